"""Relevance beside guided backprop (python -m viewer.bench lrp): one conv6 unit and the top class of All-CNN-C by
EpsilonPlusFlat against guided backprop on the same frame, zennit's time for the same seeds where it is installed
(a test dependency), the whole conv6 layer (W) by both, concept relevance (K), and the live pipeline's results/s
with an LRP method.

Where the path to the layer is a chain (All-CNN-C's conv layers) LRP runs through the unit's cone like guided
backprop (core/lrp_cone.py), after computing the rules' terms once per frame (in its rows); a class logit and the
fast=False row run the LRP pass (the forward with its rules, with an autograd graph)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..core.attribution import Analyzer, ChannelTarget, ClassTarget
from ..core.concepts import concept_relevance
from ..core.graph import build_graph
from ..core.lrp_method import Lrp, pixel_bounds
from ..core.lrp_rules import EPSILON_PLUS_FLAT
from ..core.methods import GUIDED
from ..sources import DemoSource
from ..worker import Pipeline, Request
from .common import Row, load_allcnn, median_ms


def _zennit_ms(model, x, layer_module, seed_fn, repeat: int) -> float | None:
    try:
        from zennit.canonizers import SequentialMergeBatchNorm
        from zennit.composites import EpsilonPlusFlat
    except Exception:   # noqa: BLE001  zennit (and torchvision) absent: a test dependency only
        return None
    captured = {}
    handle = layer_module.register_forward_hook(lambda m, i, o: captured.__setitem__("out", o))

    def run():
        with EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()]).context(model) as modified:
            xx = x.clone().requires_grad_()
            logits = modified(xx)
            out = captured["out"] if layer_module is not model else logits
            torch.autograd.grad(out, xx, seed_fn(out))
    try:
        return median_ms(run, repeat)
    finally:
        handle.remove()


def bench_lrp(checkpoint: Path | None, repeat: int, quick: bool = False) -> list[Row]:
    model, label, spec, _ = load_allcnn(checkpoint)
    layers = build_graph(model)
    an = Analyzer(model, layers, pixel_bounds=pixel_bounds(spec.mean, spec.std, spec.channels))
    bulk = Analyzer(model, layers, pixel_bounds=an.pixel_bounds)
    frame = DemoSource(size=32).read()
    pipe = Pipeline(model, layers, spec)
    x = pipe.input(frame)
    fp = an.forward(x)
    lrp = Lrp(EPSILON_PLUS_FLAT)
    unit = [ChannelTarget("conv6", int(fp.activation("conv6").flatten(1).max(1).values.argmax()))]
    cls = [ClassTarget(int(fp.logits.argmax()))]
    rows: list[Row] = []
    guided = median_ms(lambda: GUIDED.reconstruct(an, fp, unit), repeat)
    rows.append(("guided backprop, one conv6 unit, given the frame's forward (cone)", guided, "the reference"))
    def fresh(analyzer, targets):   # the frame's terms computed again each time (a new frame's cost)
        fp.lrp.clear()
        return lrp.reconstruct(analyzer, fp, targets)
    one = median_ms(lambda: fresh(an, unit), repeat)
    rows.append(("EpsilonPlusFlat, one conv6 unit, given the frame's forward (cone, the frame's terms included)",
                 one, f"{one / guided:.2f}x guided (target <= 1.5x; z+ needs a convolution per layer "
                 "that guided backprop has not: 2x is its floor)"))
    slow = Analyzer(model, layers, fast=False, pixel_bounds=an.pixel_bounds)
    sfp = slow.forward(x)
    via_pass = median_ms(lambda: lrp.reconstruct(slow, slow.forward(x), unit), max(3, repeat // 4))
    rows.append(("EpsilonPlusFlat, one conv6 unit through the LRP pass (fast=False: forward with the rules + "
                 "backward)", via_pass, f"{via_pass / one:.1f}x the cone"))
    del sfp
    c = median_ms(lambda: lrp.reconstruct(an, an.forward(x), cls), repeat)
    rows.append(("EpsilonPlusFlat, the top class logit", c, ""))
    u = unit[0]
    res = lrp.reconstruct(an, fp, unit).units[0]

    def unit_seed(out):
        s = torch.zeros_like(out)
        s[0, u.channel, res.y, res.x] = out[0, u.channel, res.y, res.x].detach()
        return s

    def class_seed(out):
        s = torch.zeros_like(out)
        s[0, cls[0].index] = out[0, cls[0].index].detach()
        return s
    z_unit = _zennit_ms(model, x, dict(model.named_modules())["conv6"], unit_seed, repeat)
    z_cls = _zennit_ms(model, x, model, class_seed, repeat)
    if z_unit is None:
        rows.append(("zennit 0.5.1, the same unit and class", float("nan"), "zennit not installed here (pip install "
                     "zennit: it needs torchvision)"))
    else:
        full = median_ms(lambda: lrp.reconstruct(an, an.forward(x), unit), repeat)   # zennit's row has a forward
        rows.append(("zennit 0.5.1 EpsilonPlusFlat, the same conv6 unit (its forward included)", z_unit,
                     f"ours with the frame's forward {full:.1f} ms: {z_unit / full:.1f}x faster"))
        rows.append(("zennit 0.5.1 EpsilonPlusFlat, the same class", z_cls, f"ours {z_cls / c:.1f}x faster"))
    units = [ChannelTarget("conv6", k) for k in range(8 if quick else 192)]   # --quick: a check that it runs
    r = max(3, repeat // 10)
    w_guided = median_ms(lambda: GUIDED.reconstruct(bulk, fp, units), r, warmup=1)
    w_lrp = median_ms(lambda: fresh(bulk, units), r, warmup=1)
    rows.append((f"W: all {len(units)} conv6 units, guided backprop (cone, batched)", w_guided, ""))
    rows.append((f"W: all {len(units)} conv6 units, EpsilonPlusFlat (cone, batched, the frame's terms included)",
                 w_lrp, f"{w_lrp / w_guided:.2f}x guided (target <= 1.5x)"))
    k = median_ms(lambda: concept_relevance(an, an.forward(x), EPSILON_PLUS_FLAT, "conv6", None, [u.channel]), repeat)
    rows.append(("K: conv6's channel relevances for the top class + one conditional map", k, ""))
    live = median_ms(lambda: pipe.compute(Request(frame, 0, "conv6", unit[0], lrp)), repeat)
    g_live = median_ms(lambda: pipe.compute(Request(frame, 0, "conv6", unit[0], GUIDED)), repeat)
    rows.append(("one live result (pipeline), EpsilonPlusFlat", live, f"{1000 / live:.0f} results/s (target >= 30); "
                 f"guided {1000 / g_live:.0f} results/s"))
    return rows
