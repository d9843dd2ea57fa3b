"""Feature visualization by optimization (core/featvis.py): each method drives its unit harder than where it
started, deterministically, with pixels in range; the receptive-field box gives the same trajectory as the whole
image with the gradient masked to the box (a second implementation, here); Lucid's redirected ReLU by hand."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from viewer.core.featvis import RedirectedReLU, Visualizer, VisMethod, VisSettings, layer_output
from viewer.core.graph import build_graph
from viewer.core.preprocess import InputSpec
from viewer.core.targets import AttributionError
from viewer.nets import build_model

SPEC = InputSpec((32, 32), (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), 3)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = build_model("allcnn_c").eval()
    return model, {l.name: l for l in build_graph(model)}


@pytest.mark.parametrize("method", list(VisMethod), ids=lambda m: m.value)
def test_each_method_drives_its_unit_harder_deterministically_within_range(net, method):
    model, layers = net
    frame = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(3))
    runs = []
    for _ in range(2):
        v = Visualizer(model, layers["conv3"], SPEC, [5, 9], (8, 8), VisSettings(method=method, steps=48),
                       start=frame)
        v.run(48)
        runs.append((v.first, v.values(), v.pictures()))
    first, value, pic = runs[0]
    assert torch.equal(pic, runs[1][2])                          # the same seed, the same image
    t, l, b, r = v.crop
    crop = frame[:, t:b, l:r]
    if method is not VisMethod.ACCENTUATE:                       # only accentuation starts from the frame
        start = Visualizer(model, layers["conv3"], SPEC, [5], (8, 8), VisSettings(method=method), start=frame)
        assert (start.pictures()[0] - crop).abs().mean() > 0.1
    assert float(pic.min()) >= 0.0 and float(pic.max()) <= 1.0
    assert v.crop != (0, 0, 32, 32) and pic.shape[-2:] == (v.crop[2] - v.crop[0], v.crop[3] - v.crop[1])
    gain = 1.5 if method is VisMethod.ACCENTUATE else 2.0   # accentuation also stays close to the frame
    for k in range(2):   # well above the start, and clearly above 0 where it started dead
        assert float(value[k]) >= max(gain * float(first[k]), 0.05), (method, first.tolist(), value.tolist())


def test_the_box_gives_the_trajectory_of_the_whole_image_with_its_gradient_masked(net):
    model, layers = net
    layer, ch, (y, x) = layers["conv6"], 7, (5, 2)
    s = VisSettings(method=VisMethod.DVT, steps=12, blur_every=0, norm_pct=0, decay=1e-3, lr=0.02)
    vis = Visualizer(model, layer, SPEC, [ch], (y, x), s)
    t, l, b, r = vis.crop
    assert (b - t, r - l) != (32, 32)
    mean = torch.tensor(SPEC.mean).view(1, 3, 1, 1)
    std = torch.tensor(SPEC.std).view(1, 3, 1, 1)
    full = mean.expand(1, 3, 32, 32).clone()
    full[:, :, t:b, l:r] = vis.pictures()
    mask = torch.zeros_like(full)
    mask[:, :, t:b, l:r] = 1
    ours, ref = [], []
    for _ in range(12):
        vis.run(1)
        ours.append(float(vis.values()[0]))
        px = full.clone().requires_grad_()
        act = layer_output(model, layer, (px - mean) / std, redirect=True)[0, ch, y, x]
        (g,) = torch.autograd.grad(-act, px)
        with torch.no_grad():
            g = g * mask
            full -= s.lr * g / g[:, :, t:b, l:r].abs().mean()
            full -= s.decay * (full - mean)
            full.clamp_(0, 1)
            ref.append(float(layer_output(model, layer, (full - mean) / std)[0, ch, y, x]))
    assert ref[-1] > ref[0] * 1.5 > 0
    assert ours == pytest.approx(ref, rel=1e-4, abs=1e-7)


def test_redirected_relu_by_hand():
    x = torch.tensor([[-1.0, -2.0], [3.0, -1.0]], requires_grad=True)
    g = torch.tensor([[-1.0, 1.0], [2.0, -5.0]])
    (got,) = torch.autograd.grad(RedirectedReLU.apply(x), x, g)
    # sample 0: every unit off, so the gradient passes except where it would push a negative input lower (g > 0);
    # sample 1: the ReLU lets some through, so it is the ReLU's own gradient
    assert got.tolist() == [[-1.0, 0.0], [2.0, 0.0]]


def test_bad_inputs_are_one_sentence(net):
    model, layers = net
    flat = replace(layers["conv9"], shape=(10,))   # a dense layer's output
    with pytest.raises(AttributionError, match="no spatial positions"):
        Visualizer(model, flat, SPEC, [0], (0, 0), VisSettings())
    with pytest.raises(AttributionError, match="starts from an image"):
        Visualizer(model, layers["conv3"], SPEC, [0], (0, 0), VisSettings(method=VisMethod.ACCENTUATE))


def test_o_refines_the_unit_s_image_over_results_and_shift_o_switches_the_method(app, monkeypatch):
    from helpers import key, measure_text
    drawn, _ = measure_text(monkeypatch)
    while len(app.layer.shape) != 3 or app.layer.shape[1] < 8:
        key(app, "right")
    key(app, "o")
    steps = []
    for _ in range(3):
        app.update()
        app.draw()
        part = app.result.part("optimize")
        assert part is not None and not part.error
        steps.append(part.steps)
    assert 0 < steps[0] < steps[1] < steps[2] <= part.total      # a few steps per result, going on
    _, h, w = app.layer.shape
    assert part.position == (h // 2, w // 2) and part.picture.dtype == np.uint8 and part.picture.ndim == 3
    t, l, b, r = part.box
    assert part.picture.shape[:2] == (b - t, r - l)
    assert any(s.startswith("what it wants") for s in drawn) and any(s.startswith("O: (") for s in drawn)
    key(app, "o", shift=True)
    app.update()
    assert app.result.part("optimize").method == "dvt" and "O dvt" in app.session.modes()


def test_adam_by_hand_equals_torch_optim_adam():
    from viewer.core.featvis import Adam
    torch.manual_seed(0)
    a, b = torch.randn(5, requires_grad=True), None
    b = a.detach().clone().requires_grad_()
    ours, ref = Adam([a], 0.05), torch.optim.Adam([b], lr=0.05)
    for i in range(10):
        ours.step(torch.autograd.grad(((a - i) ** 2).sum(), [a]))
        ref.zero_grad()
        ((b - i) ** 2).sum().backward()
        ref.step()
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)


def test_w_and_o_fill_the_grid_with_every_unit_s_picture_chunk_by_chunk(app, monkeypatch):
    from helpers import key
    from viewer.features import optimize
    monkeypatch.setattr(optimize, "CHUNK", 48)
    settings = optimize.VisSettings
    monkeypatch.setattr(optimize, "VisSettings", lambda method: settings(method=method, steps=4))
    while len(app.layer.shape) != 3 or app.layer.shape[1] < 8:
        key(app, "right")
    key(app, "w")
    key(app, "o")
    geom = app.grid_geom()
    seen = []
    for _ in range(100):
        app.update()
        part = app.result.part("optimize")
        assert isinstance(part, optimize.Mosaic) and not part.error, (app.result.error, app.result.parts.keys())
        seen.append(part.finished)
        if part.finished == part.count:
            break
    assert part.finished == part.count == geom.count and seen == sorted(seen) and seen[0] < part.count
    assert all(p is not None and p.dtype == np.uint8 for p in part.pictures)
    what, tiles, note = optimize.mosaic_tiles(app.view(0.0), geom, part)
    assert tiles.shape[0] == geom.count and what.startswith("what each unit wants")
    runs = part.steps
    app.update()
    assert app.result.part("optimize").steps == runs     # finished: no more work asked for


def test_the_disk_cache_is_reused_rebuilt_for_another_model_and_survives_a_damaged_file(net, tmp_path):
    from viewer.core.featvis_cache import VisCache, model_key
    model, layers = net
    s = VisSettings(steps=3)
    key = model_key(model)
    cache = VisCache(tmp_path, key)
    assert cache.load("conv3", 5, (8, 8), s) is None
    v = Visualizer(model, layers["conv3"], SPEC, [5], (8, 8), s)
    v.run(3)
    pic = (v.pictures()[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    cache.save("conv3", 5, (8, 8), s, pic, float(v.values()[0]), v.steps, v.crop)
    got = cache.load("conv3", 5, (8, 8), s)
    assert np.array_equal(got[0], pic) and got[2] == 3 and got[3] == v.crop
    assert cache.load("conv3", 5, (8, 8), VisSettings(steps=4)) is None          # other settings: another entry
    with torch.no_grad():
        p = next(model.parameters())
        was = p[0, 0, 0, 0].clone()
        p[0, 0, 0, 0] += 1.0                                                      # the model changed
        assert model_key(model) != key
        p[0, 0, 0, 0] = was
    assert model_key(model) == key
    path = cache.path("conv3", 5, (8, 8), s)
    path.write_bytes(b"not an npz")                                               # damaged: computed again
    assert cache.load("conv3", 5, (8, 8), s) is None and not path.exists()


def test_o_reads_a_finished_unit_back_from_disk(app, monkeypatch):
    from helpers import key
    from viewer.features import optimize
    settings = optimize.VisSettings
    monkeypatch.setattr(optimize, "VisSettings", lambda method: settings(method=method, steps=4))
    while len(app.layer.shape) != 3 or app.layer.shape[1] < 8:
        key(app, "right")
    key(app, "o")
    for _ in range(20):
        app.update()
        part = app.result.part("optimize")
        if part.steps == part.total:
            break
    assert part.steps == 4
    files = list((optimize.cache_dir() / "featvis").rglob("*.npz"))
    assert len(files) == 1
    app.worker.pipeline.cache.clear()                # a new window: nothing in memory
    key(app, "o")
    key(app, "o")
    app.update()
    again = app.result.part("optimize")
    assert again.steps == 4 and np.array_equal(again.picture, part.picture)


def test_the_box_holds_for_a_residual_network_with_max_pooling():
    """A residual sum and a max-pool keep the box exact: its activation equals the whole image's with the box
    pasted in (an independent forward of the whole model)."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            return torch.relu(x + self.c2(torch.relu(self.c1(x))))

    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), Block(), Block(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()
    spec = InputSpec((48, 48), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3)
    layers = {l.name: l for l in build_graph(model, (3, 48, 48))}
    layer = layers["4"]
    vis = Visualizer(model, layer, spec, [2], (10, 13), VisSettings(method=VisMethod.DVT, steps=5, blur_every=0))
    vis.run(5)
    t, l, b, r = vis.crop
    assert (b - t) * (r - l) < 48 * 48 / 2
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    full = mean.expand(1, 3, 48, 48).clone()
    full[:, :, t:b, l:r] = vis.pictures()
    with torch.no_grad():
        whole = layer_output(model, layer, (full - mean) / torch.tensor(spec.std).view(1, 3, 1, 1))[0, 2, 10, 13]
    assert float(vis.values()[0]) == pytest.approx(float(whole), rel=1e-5, abs=1e-7)


def test_a_model_without_gradient_is_one_sentence(net):
    from torch import nn

    class Detached(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).detach()
    model = nn.Sequential(Detached(nn.Conv2d(3, 4, 3, padding=1)), nn.ReLU()).eval()
    layers = {l.name: l for l in build_graph(model, (3, 32, 32))}
    vis = Visualizer(model, layers["0"], SPEC, [1], (5, 5), VisSettings(steps=2))
    with pytest.raises(AttributionError, match="does not depend on the input through a gradient"):
        vis.run(2)


def test_the_diversity_term_makes_one_channel_s_images_differ_more(net):
    model, layers = net
    sims = []
    for weight in (0.0, 100.0):
        v = Visualizer(model, layers["conv3"], SPEC, [5, 5, 5, 5], (8, 8), VisSettings(steps=40, diversity=weight))
        v.run(40)
        from viewer.core.featvis import diversity
        with torch.no_grad():
            sims.append(float(diversity(layer_output(model, layers["conv3"], (v.pictures() - torch.tensor(
                SPEC.mean).view(1, 3, 1, 1)) / torch.tensor(SPEC.std).view(1, 3, 1, 1)))))
        assert float(v.values().min()) > float(v.first.max())        # each still drives the unit up
    assert sims[1] < sims[0] - 0.05, sims                             # pushed apart (1 = the same Gram matrices)


def test_a_grey_model_gets_grey_pictures():
    from torch import nn
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1), nn.ReLU()).eval()
    spec = InputSpec((20, 20), (0.5,), (0.25,), 1)
    layers = {l.name: l for l in build_graph(model, (1, 20, 20))}
    for method in (VisMethod.FOURIER, VisMethod.DVT):
        v = Visualizer(model, layers["3"], spec, [1], (10, 10), VisSettings(method=method, steps=10))
        v.run(10)
        assert v.pictures().shape[1] == 1 and float(v.values()[0]) > float(v.first[0])
