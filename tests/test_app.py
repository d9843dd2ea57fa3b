"""The window, driven by synthetic pygame events on the SDL dummy driver."""
import dataclasses
import numpy as np
import pygame
import pytest
from helpers import centre, click, key, measure_text, window

from viewer.app import App, TargetMode
from viewer.cli import build, parse_args
from viewer.core.attribution import ChannelTarget, ClassTarget, UnitTarget
from viewer.core.rules import Method
from viewer.keys import BINDINGS, Action, help_lines
from viewer.render import images
from viewer.render import images
from viewer.render.layout import MIN_WINDOW
from viewer.features.zoom import zoomed
from viewer.sources import DemoSource, Source
from viewer.worker import Pipeline, Worker


def test_starts_on_conv6_with_a_result(app):
    assert app.layer.name == "conv6"
    assert app.result is not None and app.result.activation.shape == (192, 8, 8)
    assert app.result.unit.layer == "conv6"


def test_click_layer_block_selects_layer(app):
    for i in (1, 4, 8):
        click(app, centre(app.layout.blocks[i]))
        assert app.session.layer == i
        assert app.result.request.layer == app.session.layers[i].name


def test_click_tile_selects_unit(app):
    geom = app.grid_geom()
    for ch in (5, 37, 150):
        x, y, w, h = geom.tile_rect(ch)
        click(app, (x + w - 1, y + 1))
        assert app.session.channel == ch
        assert app.result.unit.channel == ch


def test_click_unit_map_targets_that_position(app):
    x, y, w, h = app.layout.unit_map
    click(app, (x + int(w * 0.3), y + int(h * 0.8)))  # 8x8 map: row 6, column 2
    assert app.session.target_mode is TargetMode.POSITION
    assert app.result.unit == UnitTarget("conv6", app.session.channel, 6, 2)
    key(app, "r")
    assert app.session.target_mode is TargetMode.STRONGEST


def test_keys_do_what_the_help_says(app):
    s = app.session
    key(app, "right"); assert app.layer.name == "conv7"
    key(app, "left"); key(app, "left"); assert app.layer.name == "conv5"
    key(app, "down"); assert s.channel == 1
    key(app, "down", shift=True); assert s.channel == 1 + app.grid_geom().cols
    key(app, "up", shift=True); key(app, "up"); assert s.channel == 0
    methods = [s.method]
    from viewer.core.methods import METHODS
    for _ in range(len(METHODS)):
        key(app, "b")
        methods.append(s.method)
    assert [m.value for m in methods] == ["guided", "deconvnet", "gradient", "lrp-epsilon-plus-flat",
                                          "lrp-epsilon-gamma-box", "lrp-epsilon-alpha2-beta1", "guided"]
    assert app.result.request.method.value == "guided"
    key(app, "c"); assert isinstance(app.result.request.target, ClassTarget)
    from viewer.panes.unit import UnitPane
    lines = UnitPane().target_lines(app.view(0.0), app.result)
    assert "receptive field: whole input" in lines                  # a class logit sees every pixel
    key(app, "c"); assert isinstance(app.result.request.target, ChannelTarget)
    assert any(ln.startswith("receptive field ") and " px" in ln for ln in UnitPane().target_lines(app.view(0.0),
                                                                                                   app.result))
    key(app, "g"); assert app.result.part("class_maps").maps["Grad-CAM"] is not None and app.result.part("class_maps").maps["Grad-CAM"].shape == (32, 32)
    key(app, "l"); assert app.session.scales.act.locked
    key(app, "f"); assert s.part("filters").on
    key(app, "m"); assert s.per_tile and s.colormap == "viridis"
    key(app, "m"); assert s.colormap == "grey" and not s.per_tile
    key(app, "space"); assert s.paused
    frame = app.frame
    for _ in range(5):
        app.update()
    assert app.frame is frame  # paused: the frame is frozen
    key(app, "h"); assert s.help
    key(app, "f1"); assert not s.help
    key(app, "s"); assert len(app.saved) == 1 and app.saved[0].exists()
    assert app.saved[0].with_suffix(".json").exists()
    key(app, "q"); assert not s.running


def test_every_bound_action_is_in_the_help():
    described = {d for _, d in help_lines()}
    assert {b.action.value for b in BINDINGS} <= described
    assert set(Action) == {b.action for b in BINDINGS}


def test_drawn_tile_pixels_equal_the_colormapped_activation(app):
    import pygame
    app.session.select_layer(2)  # conv3: 96 x 16 x 16
    app.update()
    app.draw()
    act = app.result.activation
    geom = app.grid_geom()
    surf = pygame.display.get_surface()
    for ch in (0, 13, 95):
        x, y, w, h = geom.tile_rect(ch)
        for (my, mx) in ((0, 0), (7, 11), (15, 15)):
            px = x + int((mx + 0.5) * w / 16)
            py = y + int((my + 0.5) * h / 16)
            expected = images.lut("viridis")[images.to_index(np.array(act[ch, my, mx]), app.session.scales.act.value)]
            assert tuple(surf.get_at((px, py)))[:3] == tuple(int(v) for v in expected)


def test_each_pane_owns_its_clicks(app):
    """A click goes to the pane whose rectangle holds it: a block selects its layer, a tile its channel, the
    unit map a position (a quarter across, half down an 8x8 map: row 4, column 2); the status bar takes none."""
    L = app.layout
    click(app, centre(L.blocks[3]))
    assert app.session.layer == 3
    click(app, centre(L.blocks[5]))
    geom = app.grid_geom()
    click(app, centre(geom.tile_rect(7)))
    assert app.session.channel == 7
    click(app, (L.unit_map[0] + L.unit_map[2] // 4, L.unit_map[1] + L.unit_map[3] // 2))
    assert app.session.position == (4, 2) and app.session.target_mode is TargetMode.POSITION
    before = (app.session.layer, app.session.channel, app.session.position)
    click(app, (L.status[0] + 5, L.status[1] + 5))
    assert (app.session.layer, app.session.channel, app.session.position) == before


def test_small_window_layout_fits(pygame_display, random_checkpoint):
    from viewer.render.layout import compute_layout, grid_geometry
    b = build(parse_args(["--model", str(random_checkpoint)]))
    L = compute_layout((1024, 640), [l.shape for l in b.layers])
    rects = [L.source, L.model_input, L.predictions, L.grid, L.unit_map, L.overlay, L.recon, L.recon_heat]
    for r in rects:
        assert r[0] >= 0 and r[1] >= 0 and r[0] + r[2] <= 1024 and r[1] + r[3] <= 640 - 24
    geom = grid_geometry(L.grid, 192, 0)
    last = geom.tile_rect(geom.first + geom.count - 1)
    assert last[1] + last[3] <= L.grid[1] + L.grid[3] and geom.tile >= 14


class BadSource(Source):
    name = "bad"

    def __init__(self):
        self.n = 0

    def read(self):
        self.n += 1
        if self.n % 3 == 0:
            raise OSError("device hiccup")
        if self.n % 3 == 1:
            return np.zeros((4, 4), np.float64)  # not RGB uint8
        return np.full((40, 30, 3), 128, np.uint8)


def test_bad_frames_never_crash_the_app(pygame_display, random_checkpoint, tmp_path):
    b = build(parse_args(["--model", str(random_checkpoint)]))
    screen = pygame_display.display.set_mode((1024, 640))
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    app = App(screen, BadSource(), worker, b.layers, b.classes, "random", sync=True)
    try:
        for _ in range(12):
            app.update()
            app.draw()
        assert app.result is not None and app.result.model_image.shape == (32, 32, 3)
    finally:
        stopped = worker.shutdown(1.0)
    assert stopped


def test_whole_layer_view_reconstructs_every_unit_on_the_page(app):
    from viewer.core.attribution import Analyzer
    key(app, "w")
    assert app.session.part("whole_layer").on
    geom = app.grid_geom()
    r = app.result
    assert (r.request.part("whole_layer").first, r.request.part("whole_layer").count) == (geom.first, geom.count)
    assert r.part("whole_layer").recons.shape == (geom.count, 3, 32, 32)
    # against single-unit autograd runs on the same model input
    pipe = app.worker.pipeline
    slow = Analyzer(pipe.model, app.session.layers, fast=False)
    from viewer.core.preprocess import to_tensor
    fp = slow.forward(to_tensor(r.model_image, pipe.spec))
    for c in (0, 17, geom.count - 1):
        ref = slow.attribute(fp, [ChannelTarget("conv6", geom.first + c)], Method.GUIDED).images[0].numpy()
        # the whole-layer view's cone runs in the --precision choice: fp32 (~1e-7), or bf16 (a few 1e-3)
        assert np.abs(r.part("whole_layer").recons[c] - ref).max() <= 2e-2 * max(1e-12, np.abs(ref).max())
        if np.abs(ref).max() > 0:
            assert np.corrcoef(r.part("whole_layer").recons[c].ravel(), ref.ravel())[0, 1] > 0.999
        else:
            assert np.abs(r.part("whole_layer").recons[c]).max() == 0
    assert app.pane("GridPane").note() == "guided backprop of each channel's strongest unit; dark: inactive"
    # the tiles the worker cut and scaled: each reconstruction's receptive-field box (cut_box, the definition)
    # and its 99.5th percentile of |g| (numpy's)
    part, rf = r.part("whole_layer"), app.session.info.rf
    for c in (0, 17, geom.count - 1):
        y, x = part.positions[c]
        want = images.cut_box(part.recons[c], rf.box(int(y), int(x)))[0]
        assert np.array_equal(part.tiles[c], want)
        assert part.scales[c] == pytest.approx(np.percentile(np.abs(want), 99.5), rel=1e-5, abs=1e-12)
    key(app, "w")
    assert not app.session.part("whole_layer").on


def test_window_resize_relayouts(app):
    import pygame
    pygame.display.set_mode((1024, 640))
    app.handle_event(pygame.event.Event(pygame.VIDEORESIZE, size=(1024, 640), w=1024, h=640))
    app.update()
    app.draw()
    assert app.layout.size == (1024, 640)
    assert app.layout.status[1] + app.layout.status[3] == 640


def test_folder_stepping_works_while_paused(pygame_display, random_checkpoint, tmp_path):
    import cv2
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 20, 3), 50 * (i + 1), np.uint8))
    from viewer.sources import open_source
    b = build(parse_args(["--model", str(random_checkpoint)]))
    screen = pygame_display.display.set_mode((1024, 640))
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    a = App(screen, open_source(str(tmp_path)), worker, b.layers, b.classes, "random", sync=True)
    try:
        a.update()
        key(a, "space")
        key(a, "n")
        assert a.frame[0, 0, 0] == 100 and a.result.model_image[0, 0, 0] == 100
        key(a, "p")
        assert a.frame[0, 0, 0] == 50
    finally:
        stopped = worker.shutdown(1.0)
    assert stopped


def test_a_model_error_is_reported_not_fatal(app):
    class Broken:
        def compute(self, req, **kw):
            raise RuntimeError("boom")
    good = app.result
    app.worker.pipeline, pipe = Broken(), app.worker.pipeline
    app.sync = False
    key(app, "down")  # a new request goes to the thread, which reports the error
    assert app.worker.wait_idle(30)  # returns as soon as idle; generous for a loaded machine
    app.update()
    app.draw()
    assert "model error: RuntimeError: boom" in app.session.notice.text and app.result is good
    app.worker.pipeline = pipe


def test_lock_holds_both_scales_across_units(app):
    key(app, "l")
    a, r = app.session.scales.act.value, app.session.scales.recon.value
    assert app.session.scales.act.locked and app.session.scales.recon.locked and r > 0
    key(app, "down")
    key(app, "b")
    assert (app.session.scales.act.value, app.session.scales.recon.value) == (a, r)
    key(app, "l")
    assert not app.session.scales.recon.locked


def test_every_action_has_a_handler_and_a_key():
    from viewer.keys import ACTIONS, BINDINGS, Action
    assert set(ACTIONS) == set(Action)
    assert {b.action for b in BINDINGS} == set(Action)


def test_a_model_error_in_the_sync_loop_is_reported_not_raised(app, monkeypatch):
    """run_sync reports a failing model call as the thread does: a failed Result, a message, the last
    good result kept on screen."""
    good = app.result
    assert good is not None and not good.failed

    def broken(req, **kw):
        raise RuntimeError("CUDA out of memory (simulated)")
    monkeypatch.setattr(app.worker.pipeline, "compute", broken)
    app.session.paused = False
    app.update()                                         # raised before: App.update crashed in sync mode
    app.draw()
    assert app.worker.latest().failed and "simulated" in app.worker.latest().error
    assert app.session.notice.text.startswith("model error: RuntimeError: CUDA out of memory")
    assert app.result is good


def test_the_input_pane_outlines_the_crop_the_model_used(pygame_display, random_checkpoint):
    """A model whose input is twice as wide as high sees the middle half of a square frame's rows: the
    Result carries that crop (hand-computed) and the source pane outlines it, not a square."""
    from viewer.core.preprocess import InputSpec
    from viewer.render import draw
    b = build(parse_args(["--model", str(random_checkpoint)]))
    spec = InputSpec((32, 64), b.spec.mean, b.spec.std)
    from viewer.core.graph import build_graph
    layers = build_graph(b.model, (3, 32, 64))

    class Square(Source):
        name = "square"

        def read(self):
            return np.full((100, 100, 3), 255, np.uint8)
    screen = pygame_display.display.set_mode((1280, 800))
    app = App(screen, Square(), Worker(Pipeline(b.model, layers, spec)), layers, b.classes, "random", sync=True)
    try:
        app.update()
        assert app.result.crop == (25, 0, 50, 100)            # top, left, height, width
        app.draw()
        x, y, w, h = app.layout.source
        s = min(w / 100, h / 100)
        left = x + (w - int(100 * s)) // 2
        top = y + (h - int(100 * s)) // 2 + int(25 * s)       # the box's top edge, a quarter down the frame
        assert tuple(screen.get_at((left + int(50 * s), top)))[:3] == draw.DIM
        assert tuple(screen.get_at((left + int(50 * s), top - 3)))[:3] == (255, 255, 255)   # the frame above it
    finally:
        app.worker.shutdown()


def test_a_source_that_refills_one_buffer_is_recomputed_by_its_counter(pygame_display, random_checkpoint):
    """New frames are told by the source's sequence number, not by object identity: a source that writes
    each frame into the same array is analysed anew, and the request keeps the frame it was made from."""
    b = build(parse_args(["--model", str(random_checkpoint)]))

    class InPlace(Source):
        name, seq = "in place", 0

        def __init__(self):
            self.buf = np.zeros((40, 40, 3), np.uint8)

        def read(self):
            return self.buf

        def show(self, value):
            self.buf[:] = value
            self.seq += 1
    src = InPlace()
    screen = pygame_display.display.set_mode((1280, 800))
    app = App(screen, src, Worker(Pipeline(b.model, b.layers, b.spec)), b.layers, b.classes, "random", sync=True,
              pick_unit=False)
    try:
        src.show(10)
        app.update()
        first = app.result
        assert int(first.model_image.mean()) == 10
        app.update()
        assert app.result is first                        # the same frame: not recomputed
        src.show(200)
        app.update()
        assert int(app.result.model_image.mean()) == 200  # the same array, a new frame: recomputed
        assert int(first.request.frame.mean()) == 10      # the first request's frame was not overwritten
    finally:
        app.worker.shutdown()


def test_the_filters_view_gets_the_weights_with_the_result(app):
    """F: the worker hands the layer's weights back in the Result; the pane draws from them (it no longer
    reaches into the worker's model from the UI thread)."""
    app.session.select_layer(0)                                  # conv1: RGB filters
    key(app, "f")
    app.update()
    app.draw()
    r = app.result
    assert r.request.part("filters") and r.request.layer == "conv1"
    want = app.worker.pipeline.model.conv1.conv.weight.detach().numpy()
    assert np.array_equal(r.part("filters").weights, want)
    assert app.pane("GridPane").note().startswith("RGB filters")
    app.session.select_layer(len(app.session.layers) - 1)                # the pool: no weights, said in the caption
    app.update()
    app.draw()
    assert app.pane("GridPane").note().endswith("has no convolution weights to show")


@pytest.mark.parametrize("size", [(1280, 800), MIN_WINDOW])
def test_every_caption_and_unit_line_fits_its_pane_at_the_default_and_the_smallest_window(app, monkeypatch, size):
    """Draw the window at 1280x800 and at the smallest window in each mode and record every caption and
    unit-panel line that would have to be cut with an ellipsis to fit its pane (the status bar is one long line
    by design)."""
    from viewer.panes import status
    _, cut = measure_text(monkeypatch)
    monkeypatch.setattr(status.StatusPane, "draw", lambda self, surface, v: None)
    app.screen = pygame.display.set_mode(size)
    app.relayout(size)

    def frame():
        app.update()
        app.draw()
    frame()                                                  # conv6 feature maps, a unit's guided backprop
    app.session.select_channel(191, app.per_page())
    key(app, "l")                                            # locked scales: the longest captions
    frame()
    for k in ("z", "z", "k", "k", "b", "b", "c", "g", "w", "f"):   # ablated, K, sorted, methods, C, G, W, F
        key(app, k)
        frame()
    for name in ("conv1", "conv9", "pool"):
        app.session.select_layer(next(i for i, l in enumerate(app.session.layers) if l.name == name))
        frame()
    assert sorted(set(cut)) == [], sorted(set(cut))



def test_a_new_method_is_one_class_and_one_registration(app, monkeypatch):
    """A method the project does not have (gradient x input), registered in core.methods.METHODS only:
    B reaches it, the worker computes it, the panes caption it, --method accepts it. No other edit."""
    import torch

    from viewer.core import methods
    from viewer.core.attribution import Attribution

    class GradientTimesInput(methods.AttributionMethod):
        value, label, zero_when_inactive = "gradxinput", "gradient x input", True

        def reconstruct(self, analyzer, fp, targets):
            g = analyzer.attribute(fp, targets, Method.GRADIENT)
            return Attribution(g.images * fp.x.detach(), g.units, g.values)
    new = GradientTimesInput()
    monkeypatch.setattr(methods, "METHODS", (*methods.METHODS, new))
    for _ in range(len(methods.METHODS) - 1):
        key(app, "b")
    assert app.session.method is new
    app.update()
    app.draw()
    r = app.result
    assert r.request.method is new
    grad = app.worker.pipeline.compute(dataclasses.replace(r.request, method=methods.GRADIENT))
    x = torch.from_numpy(r.model_image).permute(2, 0, 1).float() / 255.0
    x = (x - torch.tensor(app.worker.pipeline.spec.mean)[:, None, None]) / torch.tensor(app.worker.pipeline.spec.std)[:, None, None]
    assert np.allclose(r.recon, grad.recon * x.numpy(), atol=1e-6)
    from viewer.cli import parse_args as fresh_parse
    assert fresh_parse(["--method", "gradxinput"]).method == "gradxinput"


def test_zoom_to_the_receptive_field_by_default_where_it_is_small(pygame_display, random_checkpoint):
    b = build(parse_args(["--model", str(random_checkpoint), "--input-size", "128"]))
    with window(pygame_display, b, size=256) as app:
        app.update()
        app.draw()
        u = app.result.unit
        assert app.layer.name == "conv6" and zoomed(app.session)          # 19x19 of 128x128: under a third
        t, l, bt, rt = app.layer.rf.box(u.y, u.x)
        imgs = app.pane("UnitPane").images_for(app.view(0.0), app.result)
        assert imgs["recon"].shape == (bt - t, rt - l, 3) and imgs["overlay"].shape == (bt - t, rt - l, 3)
        inside = images.cut_box(app.result.recon, (t, l, bt, rt))[0]
        assert np.array_equal(imgs["recon"], images.signed_rgb(inside, app.session.scales.recon.value))
        key(app, "w")                                               # whole layer: each tile its own box
        assert app.result.part("whole_layer").positions.shape == (app.grid_geom().count, 2)
        key(app, "v")                                               # V: the whole input again
        assert not zoomed(app.session)
        imgs = app.pane("UnitPane").images_for(app.view(0.0), app.result)
        assert imgs["recon"].shape == (128, 128, 3)
    small = build(parse_args(["--model", str(random_checkpoint)]))   # 19x19 of 32x32: not zoomed
    with window(pygame_display, small, size=64) as app:
        app.update()
        assert not zoomed(app.session)


def test_the_strip_under_the_predictions_shows_the_unit_s_top_patches_and_opens_them(app):
    """The free area under the predictions (1280x800): the live top frames of the selected unit."""
    from viewer.render.layout import atlas_tiles
    for _ in range(4):
        app.update()
        app.draw()
    rect = app.layout.atlas_strip
    assert rect[2] > 0 and rect[1] > app.layout.predictions[1] + app.layout.predictions[3]
    entries = app.session.part("atlas").live.entries("conv6", app.session.channel)
    assert entries
    r = atlas_tiles(rect, len(entries), label=14, recon_rows=False).patch(0)
    click(app, (r[0] + 3, r[1] + 3))
    assert app.session.paused and app.session.position == entries[0][2:]


def test_the_help_overlay_shows_every_row_whole_at_the_default_window(app, monkeypatch):
    from viewer.render import draw
    drawn, cut = measure_text(monkeypatch)
    draw.overlay_panel(app.screen, help_lines(), "Keys and mouse")
    assert cut == [] and all(k in drawn and d in drawn for k, d in help_lines())


def test_a_new_class_map_is_one_class_and_one_registration(app, monkeypatch):
    """A class map the project does not have (the class logit's plain gradient at the input, as a map),
    registered in core.methods.CLASS_MAPS only: G computes it beside Grad-CAM and the result carries it by
    name; with it first in the registry, the unit panel draws and captions it."""
    from viewer.core import methods
    from viewer.core.attribution import ClassTarget
    from viewer.render import draw

    class GradientMap(methods.ClassMapMethod):
        value, label = "gradmap", "gradient map"

        def maps(self, analyzer, fp, class_index, layer):
            g = analyzer.attribute(fp, [ClassTarget(class_index)], Method.GRADIENT).images[0].abs().sum(0)
            return {"gradient map": (g / g.max().clamp(min=1e-12)).numpy()}
    monkeypatch.setattr(methods, "CLASS_MAPS", (GradientMap(), *methods.CLASS_MAPS))
    captions = []
    real = draw.caption
    monkeypatch.setattr(draw, "caption", lambda surface, rect, s, colour=draw.DIM: (captions.append(draw.fitting(s, 17, rect[2])),
                                                                                   real(surface, rect, s, colour)))
    key(app, "g")
    r = app.result
    assert list(r.part("class_maps").maps) == ["gradient map", "Grad-CAM", "guided Grad-CAM"]
    assert r.part("class_maps").maps["gradient map"].shape == (32, 32) and r.part("class_maps").maps["Grad-CAM"] is not None
    assert any(c.startswith("gradient map: ") for c in captions)


def test_an_unchanged_window_is_not_redrawn_until_something_is_new(app, monkeypatch):
    """App.due: after a draw, nothing is due until a new frame, a new result or an event, or REFRESH_S."""
    import time

    import pygame

    from viewer import app as app_module
    app.source.realtime = True                     # a camera-rate demo: a new frame at most 30 times a second
    app.update()
    app.draw()
    now = time.perf_counter()
    assert not app.due(now) and app.due(now + app_module.REFRESH_S)
    app.handle_event(pygame.event.Event(pygame.MOUSEMOTION, pos=(1, 1), rel=(0, 0), buttons=(0, 0, 0)))
    assert app.due(now)
    app.draw()
    time.sleep(1.5 / app.source.FPS)
    app.update()                                   # a new frame (and, sync, its result)
    assert app.due(time.perf_counter())


def test_the_camera_rate_demo_gives_a_new_frame_at_most_30_times_a_second():
    import time
    src = DemoSource(size=32, realtime=True)
    a, s1 = src.read_seq()
    b, s2 = src.read_seq()
    assert s1 == s2 and a is b
    time.sleep(1.5 / src.FPS)
    assert src.read_seq()[1] == s1 + 1
    plain = DemoSource(size=32)
    assert plain.read_seq()[1] + 1 == plain.read_seq()[1]     # one per read (tests, export)


def test_the_first_screen_shows_the_layer_s_most_active_channel_and_a_new_layer_picks_again(pygame_display,
                                                                                         random_checkpoint):
    """Not channel 0, which may be dead on this input: the channel whose map holds the layer's largest value,
    found by hand in the first result's activation; the same on a newly opened layer; a unit the user picks
    stays."""
    b = build(parse_args(["--model", str(random_checkpoint)]))
    with window(pygame_display, b, size=64, pick_unit=True) as app:
        app.update()
        first = app.result.activation
        want = int(np.unravel_index(np.argmax(first), first.shape)[0])
        app.update()
        app.draw()
        assert app.session.channel == want and app.result.unit.channel == want and app.result.value > 0
        key(app, "left")                                   # conv5: picked again on its first result
        act = app.session.result.activation
        assert app.layer.name == "conv5" and app.session.channel == int(np.unravel_index(np.argmax(act), act.shape)[0])
        key(app, "down")                                   # the user's choice stays
        chosen = app.session.channel
        for _ in range(3):
            app.update()
        assert app.session.channel == chosen


def test_pointing_at_a_title_explains_the_pane_and_at_a_tile_gives_its_values(app):
    """A tooltip: over a pane's title line its one sentence, over a tile its channel and values (checked against
    the result by hand), nothing over empty space."""
    import pygame
    view = app.view(0.0)
    grid = app.pane("GridPane")
    g = app.layout.grid
    assert "Every channel of the selected layer" in grid.tooltip((g[0] + 20, g[1] - 8), view)
    x, y, w, h = app.grid_geom().tile_rect(5)
    a = app.result.activation[5]
    yy, xx = np.unravel_index(int(a.argmax()), a.shape)
    assert grid.tooltip((x + 2, y + 2), view).startswith(f"channel 5: max {a.max():.3g} at (y={yy}, x={xx})")
    assert all(not p.tooltip((app.layout.status[0] + 3, app.layout.status[1] - 40), view) for p in app.panes)
    app.handle_event(pygame.event.Event(pygame.MOUSEMOTION, pos=(g[0] + 20, g[1] - 8), rel=(0, 0), buttons=(0, 0, 0)))
    app.draw()
    assert app.mouse == (g[0] + 20, g[1] - 8)


def test_a_still_frame_says_so_instead_of_a_stale_rate():
    from viewer.meters import Meters
    from viewer.panes.status import rates
    times = [0.0, 0.1, 0.2, 0.3]
    assert Meters.rate(times, 0.35) == pytest.approx(10.0) and Meters.rate(times, 5.0) == 0.0

    class V:   # what rates() reads of a PaneView
        result, result_is_current, model_fps, draw_fps, now = object(), True, 0.0, 4.0, 9.0
    assert rates(V()) == "still frame: recomputed on change"


@pytest.mark.parametrize("size", [(1280, 800), MIN_WINDOW])
def test_no_caption_or_unit_line_is_cut_with_the_modes_stacked(app, monkeypatch, size):
    """Every mode switched on in turn on top of the others (G, X, Z, V, C, L, A, W, F), drawn at 1280x800 and at
    the smallest window after each: no caption or unit-panel line needs an ellipsis (the status bar is one long
    line by design)."""
    from viewer.panes import status
    _, cut = measure_text(monkeypatch)
    monkeypatch.setattr(status.StatusPane, "draw", lambda self, surface, v: None)
    app.screen = pygame.display.set_mode(size)
    app.relayout(size)
    for k in ("g", "x", "k", "z", "v", "c", "l", "a", "w", "f", "m", "m", "b"):
        key(app, k)
        app.update()
        app.draw()
    for name in ("conv1", "conv9", "pool"):
        app.session.select_layer(next(i for i, l in enumerate(app.session.layers) if l.name == name))
        app.update()
        app.draw()
    assert sorted(set(cut)) == [], sorted(set(cut))


def test_a_new_frame_alone_redraws_only_the_source_image_as_a_full_draw_would(app, monkeypatch):
    """The camera's 30 frames a second redraw the source image on its own rectangle (App.draw_frame), not the
    whole window: the pixels there equal a full draw's, and nothing else on the window changes."""
    monkeypatch.setattr(app, "_submit", lambda: None)       # the result stays: only the frame is new
    app.draw()
    before = pygame.surfarray.array3d(app.screen).copy()
    frame_before = app.frame
    pygame.event.clear()                                   # an event (the window's own) redraws it all
    assert app.step(fps=60)                                # it drew: the demo source gave a new frame
    assert app.frame is not frame_before and not app.dirty and not app.frame_dirty
    partial = pygame.surfarray.array3d(app.screen).copy()
    x, y, w, h = app.layout.source
    outside = np.ones(partial.shape[:2], bool)
    outside[x:x + w, y:y + h] = False                      # surfarray is (x, y)
    diff = np.argwhere((partial != before).any(-1) & outside)
    assert not len(diff), (diff.min(0), diff.max(0), app.layout.source)
    assert not np.array_equal(partial[x:x + w, y:y + h], before[x:x + w, y:y + h])    # the new frame is shown
    app.draw()
    full = pygame.surfarray.array3d(app.screen)
    assert np.array_equal(partial[x:x + w, y:y + h], full[x:x + w, y:y + h])
    # a tooltip over the window: the next new frame redraws it all (the tooltip is not cut by the frame)
    app.mouse = (app.layout.source[0] + 20, app.layout.source[1] - 8)     # on its title line: a sentence
    app.draw()
    assert app._overlay
    full = []
    monkeypatch.setattr(app, "draw", lambda *a, **k: full.append(1))
    pygame.event.clear()
    app.step(fps=60)
    assert full == [1]
