"""Sanity checks (viewer/core/sanity.py): the cascading randomized copy, Spearman and SSIM against values
worked out by hand, and the window's X and class-target checks."""
import numpy as np
import pytest
import torch
from helpers import ask, key

from viewer.core.attribution import ChannelTarget, ClassTarget, UnitTarget
from viewer.core.graph import build_graph
from viewer.core.rules import Method
from viewer.core.sanity import cascading_randomized, ranks, spearman, ssim
from viewer.nets import AllCNNC
from viewer.worker import Pipeline, Request


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_the_copy_differs_above_the_cut_and_is_bitwise_equal_below_and_the_model_is_untouched():
    torch.manual_seed(0)
    model = AllCNNC().eval()
    with torch.no_grad():                                  # "trained": no parameter at its initial value
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.add_(torch.rand_like(v) * 0.1)
    layers = build_graph(model)
    before = snapshot(model)
    twin = cascading_randomized(model, layers, "conv6", seed=3)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k                 # the user's model: bitwise unchanged
    tw = twin.state_dict()
    for k, v in before.items():
        block = k.split(".")[0]
        if block in ("conv1", "conv2", "conv3", "conv4", "conv5"):
            assert torch.equal(tw[k], v), k
        elif v.is_floating_point():
            assert not torch.equal(tw[k], v), k            # re-initialised
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    again = cascading_randomized(model, layers, "conv6", seed=3)   # a fixed seed: the same copy
    assert all(torch.equal(again.state_dict()[k], tw[k]) for k in tw)


def test_ranks_and_spearman_by_hand():
    assert ranks(np.array([10, 20, 20, 30])).tolist() == [1, 2.5, 2.5, 4]
    # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6 * 2 / 24
    assert spearman(np.array([1, 2, 3]), np.array([1, 3, 2])) == pytest.approx(0.5)
    # ties: the Pearson correlation of the ranks [1, 2.5, 2.5, 4] and [1, 2, 3, 4] = 4.5 / sqrt(4.5 * 5)
    assert spearman(np.array([1, 2, 2, 3]), np.array([1, 2, 3, 4])) == pytest.approx(4.5 / np.sqrt(22.5))
    assert spearman(np.array([1, 2, 3]), np.array([30, 20, 10])) == pytest.approx(-1.0)
    assert spearman(np.zeros(4), np.zeros(4)) == 1.0 and spearman(np.zeros(4), np.arange(4)) == 0.0


def test_ssim_by_hand():
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    b = np.array([[0.0, 1.0], [0.0, 1.0]])
    # one 2x2 window: means 0.5, variances 0.25, covariance 0.25 - 0.25 = 0
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    want = (2 * 0.25 + c1) * c2 / ((0.5 + c1) * (0.5 + c2))
    assert ssim(a, b) == pytest.approx(want)
    x = np.random.default_rng(0).random((3, 16, 16))
    assert ssim(x, x) == 1.0 and ssim(x, 5 * x + 2) == pytest.approx(1.0)   # each map by its own range


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(1)
    model = AllCNNC().eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.05, 0.2)
    layers = build_graph(model)
    from viewer.core.preprocess import InputSpec
    return Pipeline(model, layers, InputSpec())


def frame(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def test_a_cut_the_target_does_not_depend_on_gives_correlation_1(pipe):
    # conv3's unit depends on conv1..conv3 only: randomizing conv5 and up cannot change its map
    r = pipe.compute(ask(frame(), 0, "conv3", UnitTarget("conv3", 4, 5, 6), Method.GUIDED, randomize="conv5"))
    assert r.part("sanity").layers[0] == "conv5" and np.array_equal(r.part("sanity").recon, r.recon)
    assert r.part("sanity").similarity == (1.0, 1.0, 1.0)


def test_randomizing_the_target_s_layers_changes_the_map_and_the_numbers_match_the_definitions(pipe):
    r = pipe.compute(ask(frame(1), 0, "conv6", ClassTarget(0), Method.GRADIENT, randomize="conv6"))
    assert not np.allclose(r.part("sanity").recon, r.recon)
    a, s, q = r.part("sanity").similarity
    assert a == pytest.approx(spearman(np.abs(r.recon), np.abs(r.part("sanity").recon)))
    assert s == pytest.approx(spearman(r.recon, r.part("sanity").recon)) and q == pytest.approx(ssim(r.recon, r.part("sanity").recon))
    # the copy's map is that model's own gradient, computed here by plain autograd
    twin = cascading_randomized(pipe.model, list(pipe.layers.values()), "conv6")
    from viewer.core.preprocess import model_view, to_tensor
    x = to_tensor(model_view(frame(1), pipe.spec), pipe.spec).requires_grad_(True)
    (g,) = torch.autograd.grad(twin(x)[0, 0], x)
    assert np.allclose(r.part("sanity").recon, g[0].numpy(), atol=1e-6, rtol=1e-4)


def test_class_target_reports_the_second_class_s_correlation(pipe):
    r = pipe.compute(ask(frame(2), 0, "conv6", ClassTarget(int(np.argmax(
        pipe.compute(Request(frame(2), 0, "conv6", None)).probs))), Method.GUIDED, second_class=True))
    rho = r.part("class_target").spearman
    assert rho is not None and -1.0 <= rho <= 1.0
    plain = pipe.compute(ask(frame(2), 0, "conv6", ChannelTarget("conv6", 3), Method.GUIDED, second_class=True))
    assert plain.part("class_target") is None and plain.part("sanity") is None


def test_x_in_the_window_shows_the_randomized_copy(app):  # noqa: F811
    key(app, "x")
    r = app.result
    assert app.session.part("sanity").on and r.request.part("sanity").cut == "conv6" and r.part("sanity").recon is not None
    assert r.part("sanity").layers == ("conv6", "conv7", "conv8", "conv9", "pool")
    key(app, "x")
    assert app.result.part("sanity") is None


@pytest.fixture()
def images(tmp_path):
    import cv2
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(2)
    for i in range(5):
        cv2.imwrite(str(root / f"{i}.png"), rng.integers(0, 256, (36, 36, 3), dtype=np.uint8))
    return root


def test_the_report_prints_a_row_per_layer_and_draws_the_plot(random_checkpoint, images, tmp_path, capsys):
    import cv2

    from viewer.sanity import main
    plot = tmp_path / "s.png"
    assert main(["--model", str(random_checkpoint), "--data", str(images), "--n", "3", "--plot", str(plot),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| conv")]
    assert [r.split("|")[1].strip() for r in rows] == [f"conv{i}" for i in range(9, 0, -1)]
    from viewer.core.methods import CLASS_MAPS, METHODS
    columns = len(METHODS) + 2 * len(CLASS_MAPS)     # every method (the LRP composites too), Grad-CAM, guided Grad-CAM
    assert all(len(r.split("|")) == 3 + columns for r in rows) and "3 images" in out
    assert "lrp-epsilon-plus-flat" in out or "LRP eps+ flat" in out
    sens = next(line for line in out.splitlines() if line.startswith("| top vs 2nd class |"))
    values = [float(cell.split("+-")[0]) for cell in sens.split("|")[2:-1]]
    assert len(values) == columns and all(-1.0 <= v <= 1.0 for v in values)
    assert cv2.imread(str(plot)).shape == (540, 900, 3)


def test_the_report_refuses_bad_data_and_never_overwrites_a_file_it_was_not_given(random_checkpoint, images,
                                                                                  tmp_path, capsys, monkeypatch):
    from viewer.sanity import main
    assert main(["--model", str(random_checkpoint), "--data", str(tmp_path / "none"), "--no-progress",
                 "--plot", str(tmp_path / "p.png")]) == 2
    assert "no such file or folder" in capsys.readouterr().err and not (tmp_path / "p.png").exists()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sanity-random_allcnn.png").write_bytes(b"mine")
    assert main(["--model", str(random_checkpoint), "--data", str(images), "--n", "1", "--no-progress"]) == 2
    assert (tmp_path / "sanity-random_allcnn.png").read_bytes() == b"mine"


def test_ablation_zeroes_the_channel_and_the_layers_after_it_equal_a_forward_by_hand(pipe):
    from viewer.core.preprocess import model_view, to_tensor
    model = pipe.model
    before = snapshot(model)
    plain = pipe.compute(Request(frame(3), 0, "conv7", None))
    r = pipe.compute(ask(frame(3), 0, "conv6", ChannelTarget("conv6", 9), Method.GUIDED,
                         ablate=(("conv6", 3), ("conv6", 7))))
    assert (r.activation[[3, 7]] == 0).all() and r.activation[9].any()
    x = to_tensor(model_view(frame(3), pipe.spec), pipe.spec)
    with torch.no_grad():                                   # the ablated network, written out by hand
        h = x
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6"):
            h = getattr(model, name)(h)
        h = h.clone()
        h[:, [3, 7]] = 0
        h7 = model.conv7(h)
        logits = model.pool(model.conv9(model.conv8(h7))).flatten(1)
    r7 = pipe.compute(ask(frame(3), 0, "conv7", None, ablate=(("conv6", 3), ("conv6", 7))))
    assert np.allclose(r7.activation, h7[0].numpy(), atol=1e-6)
    assert np.allclose(r7.probs, logits[0].softmax(0).numpy(), atol=1e-6)
    assert np.array_equal(r7.part("ablation").intact_probs, plain.probs)      # the intact model beside it
    # nothing stays attached or changed; clearing gives back the exact predictions
    assert all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    again = pipe.compute(Request(frame(3), 0, "conv7", None))
    assert np.array_equal(again.probs, plain.probs) and again.part("ablation") is None


def test_z_in_the_window_ablates_the_selected_channel_and_shift_z_clears(app):  # noqa: F811
    key(app, "z")
    r = app.result
    assert app.session.part("ablation").units == {("conv6", 0)} and r.request.part("ablation").units == (("conv6", 0),)
    assert (r.activation[0] == 0).all() and r.part("ablation").intact_probs is not None
    key(app, "z", shift=True)
    assert app.session.part("ablation").units == frozenset() and app.result.part("ablation") is None


def test_export_ablate_layer_writes_each_channel_s_effect_sorted_with_a_chart(random_checkpoint, tmp_path):
    import json

    import cv2

    from viewer.launch import main
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.random.default_rng(5).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    out = tmp_path / "out"
    assert main(["--model", str(random_checkpoint), "--export", str(out), "--source", str(img), "--units", "3",
                 "--ablate-layer", "conv8"]) == 0
    info = json.loads((out / "result.json").read_text())
    ab = info["ablation"]
    assert ab["layer"] == "conv8" and len(ab["channels"]) == 192 and ab["class_index"] == info["predictions"][0]["index"]
    changes = [r["logit_change"] for r in ab["channels"]]
    assert changes == sorted(changes)
    # one row checked by hand: the model with that channel of conv8 zeroed, written out
    from viewer.core.checkpoint import load_checkpoint
    from viewer.core.preprocess import InputSpec, model_view, to_tensor
    loaded = load_checkpoint(random_checkpoint)
    m, spec = loaded.model.eval(), InputSpec.from_meta(loaded.meta)
    x = to_tensor(model_view(cv2.imread(str(img))[:, :, ::-1].copy(), spec), spec)
    row = ab["channels"][0]
    with torch.no_grad():
        h = x
        for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7", "conv8"):
            h = getattr(m, name)(h)
        base = m.pool(m.conv9(h)).flatten(1)[0, ab["class_index"]]
        h[:, row["channel"]] = 0
        z = m.pool(m.conv9(h)).flatten(1)[0, ab["class_index"]]
    assert row["logit_change"] == pytest.approx(float(z - base), abs=1e-5)
    assert cv2.imread(str(out / ab["chart"])) is not None


def test_ablation_of_a_layer_that_is_not_a_block_goes_through_hooks_and_is_the_same_network():
    from nets import grey_net

    from viewer.core.preprocess import InputSpec, model_view, to_tensor
    model = grey_net().eval()
    spec = InputSpec((16, 16), (0.5,), (0.25,), 1)
    p = Pipeline(model, build_graph(model, (1, 16, 16)), spec)
    from viewer.features.ablation import zeroable
    assert zeroable(model, p.layers, "1") is None and zeroable(model, p.layers, "0") is None   # bare: hooks
    before = snapshot(model)
    r = p.compute(ask(frame(4), 0, "2", None, ablate=(("1", 5), ("0", 1))))
    x = to_tensor(model_view(frame(4), spec), spec)
    with torch.no_grad():
        h = model[0](x)
        h[:, 1] = 0
        h = model[1](h)
        h[:, 5] = 0
        want = model[2](h)
    assert np.allclose(r.activation, want[0].numpy(), atol=1e-6)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks for m in model.modules())
