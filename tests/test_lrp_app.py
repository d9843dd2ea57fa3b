"""LRP in the window: B reaches the composites, the unit panel draws relevance red/blue with its conservation."""
import numpy as np
from helpers import key, measure_text

from viewer.core.lrp_method import Lrp
from viewer.render import images


def test_relevance_is_white_at_zero_red_for_and_blue_against():
    rgb = images.relevance_rgb(np.array([[0.0, 2.0, -2.0, 1.0]]), 2.0)[0]
    assert rgb.tolist() == [[255, 255, 255], [255, 0, 0], [0, 0, 255], [255, 128, 128]]


def test_b_reaches_lrp_and_the_panel_says_how_much_relevance_reached_the_pixels(app, monkeypatch):
    drawn, _ = measure_text(monkeypatch)
    while not isinstance(app.session.method, Lrp):
        key(app, "b")
    app.update()
    app.draw()
    r = app.result
    assert r.request.method.value == "lrp-epsilon-plus-flat" and r.recon is not None
    assert r.value > 0 and abs(r.recon).sum() > 0
    want = f"relevance in {r.value:.3g}, at the pixels {float(r.recon.sum()):.3g}"
    assert any(t.startswith(want) for t in drawn)
    assert any("red +, blue -" in t for t in drawn)
