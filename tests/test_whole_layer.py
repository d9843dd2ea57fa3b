"""W on a layer whose page takes several chunks: tiles handed over as they finish, the same numbers as one
batch, stopped early when the user moves on; the window shows the progress."""
import numpy as np
from helpers import ask

from viewer.core.attribution import Analyzer, ChannelTarget
from viewer.core.graph import build_graph
from viewer.core.preprocess import InputSpec, to_tensor
from viewer.core.rules import Method
from viewer.nets import AllCNNC
from viewer.pipeline import Pipeline


def frame():
    return np.random.default_rng(7).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def pipe():
    import torch
    torch.manual_seed(0)
    m = AllCNNC().eval()
    return Pipeline(m, build_graph(m), InputSpec())


def test_a_page_in_chunks_reports_the_tiles_done_and_equals_one_batch_by_autograd(monkeypatch):
    from viewer.features import whole_layer
    p = pipe()
    monkeypatch.setattr(whole_layer, "SHOW_PARTS_AFTER_S", 0.0)   # as a slow network's page: tiles as they finish
    interim = []
    r = p.compute(ask(frame(), 0, "conv6", ChannelTarget("conv6", 0), Method.GUIDED, layer_units=(0, 192)),
                  report=interim.append)
    part = r.part("whole_layer")
    assert part.complete and part.recons.shape == (192, 3, 32, 32) and not r.interim
    assert interim and all(x.interim and not x.part("whole_layer").complete for x in interim)
    first = interim[0].part("whole_layer")
    assert first.done == 32 and first.recons.shape[0] == 32 and first.seconds_left > 0
    assert np.array_equal(first.recons, part.recons[:32])                  # the same tiles, handed over early
    slow = Analyzer(p.model, list(p.layers.values()), fast=False)          # an independent reference: autograd
    fp = slow.forward(to_tensor(r.model_image, p.spec))
    for c in (0, 40, 191):
        ref = slow.attribute(fp, [ChannelTarget("conv6", c)], Method.GUIDED).images[0].numpy()
        assert np.allclose(part.recons[c], ref, atol=1e-5 * max(1e-12, np.abs(ref).max()), rtol=1e-4)


def test_a_newer_request_for_something_else_stops_the_page_early():
    p = pipe()
    r = p.compute(ask(frame(), 0, "conv6", ChannelTarget("conv6", 0), Method.GUIDED, layer_units=(0, 192)),
                  report=lambda res: None, superseded=lambda: True)
    part = r.part("whole_layer")
    assert not part.complete and part.done == 32 and part.recons.shape[0] == 32


def test_the_grid_shows_the_progress_and_the_unfinished_tiles(app):
    from viewer.features.whole_layer import LayerRecons, WholeLayer
    from viewer.panes.base import PaneView
    import dataclasses
    app.session.part("whole_layer").on = True
    app.update()
    view = app.view(0.0)
    r = app.result
    full = r.part("whole_layer")
    partial = LayerRecons(full.first, full.count, full.recons[:10], full.inactive[:10], full.positions[:10],
                          done=10, seconds_left=12.4)
    v = dataclasses.replace(view, result=dataclasses.replace(r, parts={**r.parts, "whole_layer": partial}))
    what, tiles, note = WholeLayer().grid_tiles(v, app.grid_geom())
    assert tiles.shape[0] == full.count and what == f"reconstructing: 10 of {full.count} done, ~12 s left"
    assert (tiles[10:] == 40).all()
    assert isinstance(v, PaneView)
