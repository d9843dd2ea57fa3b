"""The Session's selection rules, without a window (no pygame)."""
import numpy as np
import pytest

from viewer.core.attribution import ChannelTarget, ClassTarget, UnitTarget
from viewer.core.graph import build_graph
from viewer.core.methods import METHODS
from viewer.nets import AllCNNC, build_model
from viewer.render.layout import GridGeometry
from viewer.requests import Request, Result
from viewer.session import Level, Session, Side, TargetMode

GRID = GridGeometry((0, 0, 100, 100), 4, 4, 20, 2, 0, 16)


@pytest.fixture(scope="module")
def layers():
    return build_graph(AllCNNC())


def session(layers, **kw) -> Session:
    return Session([Side(layers, [str(i) for i in range(10)], "a", "A")], **kw)


def result(layers, probs, layer="conv6") -> Result:
    req = Request(np.zeros((32, 32, 3), np.uint8), 0, layer, None)
    return Result(req, np.zeros((32, 32, 3), np.uint8), (0, 0, 32, 32), np.ones((192, 8, 8), np.float32),
                  np.asarray(probs, np.float32))


def test_it_starts_on_the_default_layer_or_the_one_asked_for(layers):
    assert session(layers).info.name == "conv6"
    assert session(layers, start_layer="conv2").info.name == "conv2"


def test_a_new_layer_drops_the_pinned_position_and_clamps_the_channel(layers):
    s = session(layers)
    s.select_channel(150, per_page=16)
    assert s.page == 150 // 16
    s.pick_position(3, 4)
    assert s.target() == UnitTarget("conv6", 150, 3, 4) and s.target_mode is TargetMode.POSITION
    s.select_layer(0)                                  # conv1: 96 channels
    assert (s.channel, s.page, s.position, s.target_mode) == (95, 0, None, TargetMode.STRONGEST)
    assert s.target() == ChannelTarget("conv1", 95)
    s.select_layer(-5)
    assert s.layer == 0
    s.select_layer(99)
    assert s.layer == len(layers) - 1


def test_the_class_target_follows_the_top_class_and_a_unit_click_leaves_it(layers):
    s = session(layers)
    from viewer.features import named
    named("class_target").toggle(s)
    assert s.target() == ClassTarget(0)                 # no result yet
    s.accept(result(layers, [0.1, 0.2, 0.6, 0.1] + [0.0] * 6))
    assert s.target() == ClassTarget(2)
    s.select_channel(5, per_page=16)
    assert s.target_mode is TargetMode.STRONGEST and s.target() == ChannelTarget("conv6", 5)


def test_the_method_cycles_through_the_registry(layers):
    s = session(layers)
    seen = [s.method]
    for _ in METHODS:
        s.cycle_method()
        seen.append(s.method)
    assert seen == [*METHODS, METHODS[0]]


def test_each_switch_adds_its_part_to_the_request_and_is_listed_as_a_mode(layers):
    from viewer.features import named
    s = session(layers)
    frame = np.zeros((32, 32, 3), np.uint8)
    assert s.request(frame, 0, 1, 1, GRID).parts == {} and s.modes() == []
    named("whole_layer").toggle(s)
    named("ablation").toggle(s)
    req = s.request(frame, 0, 1, 1, GRID)
    assert set(req.parts) == {"whole_layer", "ablation"}
    assert (req.parts["whole_layer"].first, req.parts["whole_layer"].count) == (0, 16)
    assert req.parts["ablation"].units == (("conv6", 0),)
    named("filters").toggle(s)                          # F replaces W
    assert set(s.request(frame, 0, 1, 1, GRID).parts) == {"filters", "ablation"}
    s.pick_position(1, 1)
    s.lock_scales()
    s.paused = True
    assert s.modes() == ["F filters", "Z 1 ablated", "pinned at (1, 1): R releases",
                         "scales locked (maps 0..0, reconstruction 0): L", "PAUSED: Space"]


def test_notices_fade_but_a_model_error_stays_until_a_result_succeeds(layers):
    s = session(layers)
    s.notify("saved x.png")
    t = s.notice.t
    assert s.current_notice(t + 1).text == "saved x.png" and s.current_notice(t + 60) is None
    bad = Result(Request(np.zeros((4, 4, 3), np.uint8), 0, "conv6", None), np.zeros((0, 0, 3), np.uint8),
                 (0, 0, 0, 0), np.zeros((0, 0, 0)), np.zeros(0), error="boom", failed=True)
    s.accept(bad)
    assert s.notice.level is Level.ERROR and s.current_notice(s.notice.t + 600).text == "model error: boom"
    assert s.result is None
    s.accept(result(layers, [1.0] + [0.0] * 9))
    assert s.notice is None and s.result is not None


def test_swap_brings_the_other_model_forward_at_the_paired_layer(layers):
    other = build_graph(build_model("model_c"))
    s = Session([Side(layers, ["c"] * 10, "allcnn", "A"), Side(other, ["c"] * 10, "modelc", "B")])
    assert s.info.name == "conv6" and s.other_layer().name == "pool2"
    s.select_channel(191, per_page=16)
    assert s.swap() and s.model_name == "modelc" and s.info.name == "pool2" and s.other.name == "allcnn"
    assert s.channel == 191 and s.result is None
    assert not session(layers).swap()                     # one model: nothing to swap


def test_a_scale_locked_on_another_layer_says_it_may_not_fit(pygame_display, app):
    from helpers import key
    key(app, "l")
    assert app.session.scales.locked_on == "conv6 channel 0"
    key(app, "left")
    assert app.pane("GridPane").note().startswith("scale 0..") and "locked on conv6: may not fit here" in \
        app.pane("GridPane").note()
