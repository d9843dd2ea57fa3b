"""--compare: the layer pairing rule, and two models on the same frames in the window."""
import numpy as np
import pygame
import pytest
import torch
from helpers import centre, click, key, measure_text

from viewer.app import App, Side
from viewer.cli import build, build_compare, parse_args
from viewer.core.checkpoint import make_checkpoint
from viewer.core.graph import build_graph
from viewer.core.pairing import pair_layers
from viewer.nets import build_model
from viewer.sources import DemoSource
from viewer.worker import PairPipeline, Pipeline, Worker


def graph(arch):
    return build_graph(build_model(arch).eval())


def test_all_cnn_c_pairs_each_stride_2_convolution_with_model_c_s_pool():
    assert pair_layers(graph("allcnn_c"), graph("model_c")) == {
        "conv1": "conv1", "conv2": "conv2", "conv3": "pool1", "conv4": "conv3", "conv5": "conv4",
        "conv6": "pool2", "conv7": "conv5", "conv8": "conv6", "conv9": "conv7", "pool": "pool"}


def test_convpool_s_extra_convolutions_stay_unpaired():
    # ConvPool-CNN-C = All-CNN-C with each stride-2 convolution replaced by conv + max-pool (paper Table 2)
    pairs = pair_layers(graph("convpool_cnn_c"), graph("allcnn_c"))
    assert pairs["conv3"] is None and pairs["conv6"] is None
    assert pairs["pool1"] == "conv3" and pairs["pool2"] == "conv6" and pairs["conv9"] == "conv9"


def test_stages_are_matched_by_size_so_a_missing_stage_stays_unpaired():
    from torch import nn
    a = build_graph(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1)),
                    (3, 16, 16))
    b = build_graph(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(4), nn.Conv2d(4, 4, 3, padding=1)),
                    (3, 16, 16))
    assert pair_layers(a, b) == {"0": "0", "1": None, "2": None}   # 8x8 vs 4x4: no counterpart


@pytest.fixture(scope="module")
def model_c_checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("ckpt") / "model_c.pt"
    meta = {"classes": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "input_size": [32, 32], "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}
    torch.save(make_checkpoint(build_model("model_c"), "model_c", {}, meta), path)
    return path


@pytest.fixture()
def compare_app(pygame_display, random_checkpoint, model_c_checkpoint, tmp_path):
    args = parse_args(["--model", str(random_checkpoint), "--compare", str(model_c_checkpoint)])
    a, b = build(args), None
    b = build_compare(args, a)
    screen = pygame_display.display.set_mode((1280, 800))
    worker = Worker(PairPipeline(Pipeline(a.model, a.layers, a.spec), Pipeline(b.model, b.layers, b.spec)))
    app = App(screen, DemoSource(size=64), worker, a.layers, a.classes, "allcnn", save_dir=tmp_path / "shots",
              sync=True, compare=Side(b.layers, b.classes, "modelc", "B", 0.6932), accuracy=0.9188,
              recipes="epochs 220 vs 1")
    app.update()
    app.draw()
    yield app
    assert worker.shutdown(1.0)


def test_both_results_come_from_the_same_frame_and_the_paired_layer(compare_app):
    app = compare_app
    r = app.result
    assert app.layer.name == "conv6" and r.part("compare") is not None
    assert r.part("compare").request.frame is r.request.frame and r.part("compare").request.frame_index == r.request.frame_index
    assert r.part("compare").request.layer == "pool2" and r.part("compare").request.model == 1 and r.request.model == 0
    assert r.part("compare").activation.shape == (192, 8, 8) and r.part("compare").recon.shape == (3, 32, 32)
    # the other model's numbers are its own: its logits, computed independently on the same model input
    pipe = app.worker.pipeline.pipes[1]
    x = torch.from_numpy(np.ascontiguousarray(r.part("compare").model_image)).permute(2, 0, 1)[None].float() / 255
    x = (x - torch.tensor(pipe.spec.mean).view(1, 3, 1, 1)) / torch.tensor(pipe.spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        want = pipe.model(x)[0].softmax(0).numpy()
    assert np.allclose(r.part("compare").probs, want, atol=1e-5)


def test_the_same_channel_and_position_go_to_the_other_model(compare_app):
    app = compare_app
    app.session.select_layer(next(i for i, l in enumerate(app.session.layers) if l.name == "conv4"))
    app.session.select_channel(17, app.per_page())
    click(app, centre(app.layout.unit_map))
    o = app.result.part("compare")
    assert o.request.layer == "conv3" and o.unit.channel == 17 and (o.unit.y, o.unit.x) == app.session.position


def test_tab_swaps_the_front_model_at_the_paired_layer(compare_app):
    app = compare_app
    key(app, "tab")
    assert app.session.model_name == "modelc" and app.layer.name == "pool2" and app.session.other.name == "allcnn"
    assert app.result.request.model == 1 and app.result.part("compare").request.layer == "conv6"
    key(app, "tab")
    assert app.session.model_name == "allcnn" and app.layer.name == "conv6"


def test_clicking_the_second_strip_row_selects_the_paired_layer(compare_app):
    app = compare_app
    names = [l.name for l in app.session.other.layers]
    click(app, centre(app.layout.other_blocks[names.index("pool1")]))
    assert app.layer.name == "conv3" and app.result.part("compare").request.layer == "pool1"


def test_an_unpaired_layer_still_gives_the_other_model_s_predictions(pygame_display, random_checkpoint, tmp_path):
    args = parse_args(["--model", str(random_checkpoint)])
    a = build(args)
    torch.manual_seed(0)
    c = build_model("convpool_cnn_c").eval()
    layers = build_graph(c)
    worker = Worker(PairPipeline(Pipeline(c, layers, a.spec), Pipeline(a.model, a.layers, a.spec)))
    app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=64), worker, layers, a.classes, "cp",
              sync=True, compare=Side(a.layers, a.classes, "allcnn"))
    app.session.select_layer([l.name for l in layers].index("conv3"))    # the extra convolution before pool1
    app.update()
    app.draw()
    o = app.result.part("compare")
    assert app.session.other_layer() is None and o.unit is None and o.probs.shape == (10,)
    worker.shutdown(1.0)


@pytest.mark.parametrize("size", [(1280, 800), (1024, 640)])
def test_every_compare_caption_fits_at_the_default_and_the_smallest_window(compare_app, monkeypatch, size):
    from viewer.panes import status
    from viewer.render.layout import MIN_WINDOW
    _, cut = measure_text(monkeypatch)
    monkeypatch.setattr(status.StatusPane, "draw", lambda self, surface, v: None)
    app = compare_app
    size = size if size == (1280, 800) else MIN_WINDOW
    app.screen = pygame.display.set_mode(size)
    app.relayout(size)
    for k in ("l", "b", "b", "c", "tab", "b"):
        key(app, k)
    for name in ("conv1", "pool1", "conv7", "pool"):
        app.session.select_layer([l.name for l in app.session.layers].index(name))
        app.update()
        app.draw()
    assert sorted(set(cut)) == [], sorted(set(cut))


def test_the_compare_view_names_each_model_s_accuracy_and_a_recipe_difference(compare_app, monkeypatch):
    from viewer.cli import recipes_differ
    drawn, _ = measure_text(monkeypatch)
    app = compare_app
    app.session.changed()
    app.draw()
    assert any(t.startswith("A allcnn (91.9% on test): top 5") for t in drawn)
    assert any(t.startswith("B modelc (69.3% on test): top 5") for t in drawn) and "69%" in drawn and "92%" in drawn
    assert "comparing with B (trained differently): Tab" in app.session.modes()
    recipe = {"epochs": 15, "lr": 0.1, "seed": 0, "arch": "allcnn_c"}
    assert recipes_differ({"train_config": recipe}, {"train_config": {**recipe, "arch": "model_c"}}) == ""
    assert recipes_differ({"train_config": recipe}, {"train_config": {**recipe, "epochs": 1}}) == "epochs 15 vs 1"
    assert recipes_differ({}, {"train_config": recipe}) == ""          # unknown: not claimed to differ


def test_compare_shows_relevance_for_both_models(compare_app):
    """--compare with an LRP composite: both models' relevance of their paired units (max-pooling against strided
    convolution under LRP)."""
    from viewer.core.lrp_method import Lrp
    app = compare_app
    while not isinstance(app.session.method, Lrp):
        key(app, "b")
    app.update()
    app.draw()
    r, o = app.result, app.result.part("compare")
    assert isinstance(r.request.method, Lrp) and r.recon is not None and np.abs(r.recon).sum() > 0
    assert o.recon is not None and np.abs(o.recon).sum() > 0 and o.request.method is r.request.method


def test_with_v_the_other_models_reconstruction_is_its_receptive_field_enlarged(compare_app):
    """V zooms both models' reconstructions to the unit's receptive field: B's pane shows images.cut_box of its
    reconstruction at B's unit (the definition), scaled to the pane, not the whole 32x32 input."""
    from viewer.render import draw, images
    app = compare_app
    app.session.select_layer(next(i for i, l in enumerate(app.session.layers) if l.name == "conv3"))
    app.session.part("zoom").choice = True
    app.session.changed()
    app.update()
    app.draw()
    o, info = app.result.part("compare"), app.session.other.layers
    layer = next(l for l in info if l.name == o.request.layer)
    want = images.cut_box(o.recon, layer.rf.box(o.unit.y, o.unit.x))[0]
    assert want.shape[1] < 32 and want.shape[2] < 32
    x, y, w, h = app.layout.other_recon
    scale = app.session.scales.other_recon.value
    expect = pygame.surfarray.array3d(draw.scaled_surface(images.signed_rgb(want, scale), (w, h)))
    assert np.array_equal(pygame.surfarray.array3d(app.screen)[x:x + w, y:y + h], expect)
