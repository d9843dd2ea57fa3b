"""The analysis table: forward passes, one unit, the whole conv6 layer, the peers (python -m viewer.bench core)."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..core.attribution import Analyzer, ChannelTarget
from ..core.cone import cone_flops
from ..core.graph import build_graph
from ..core.precision import Precision, choose_precision
from ..core.rules import Method
from ..core.targets import resolve_many
from .common import Row, conv_peak, interleaved_ms, median_ms, rel_diff
from .peers import bench_peers


def forward_gflop(model, x: torch.Tensor) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def bench_core(model, repeat: int, quick: bool = False) -> list[Row]:
    layers = build_graph(model)
    an, traced = Analyzer(model, layers), Analyzer(model, layers, replay=False)
    slow = Analyzer(model, layers, fast=False)
    native = choose_precision(Precision.AUTO).bf16
    emulated = "" if native else "; bf16 is emulated on this CPU (--precision auto runs fp32 here)"
    x = torch.rand(1, 3, 32, 32)
    gf = forward_gflop(model, x)
    fp, fps = an.forward(x), slow.forward(x)       # the first pass of `an` records its tape
    units = resolve_many(fp, [ChannelTarget("conv6", c) for c in range(192)])
    rows: list[Row] = []
    def plain_forward():
        with torch.no_grad():
            model(x)
    t = interleaved_ms({"plain": plain_forward, "traced": lambda: traced.forward(x), "replayed": lambda: an.forward(x)},
                       max(repeat, 20))
    plain, t_traced, t_rep = t["plain"], t["traced"], t["replayed"]
    rows.append(("plain forward, no capture (reference)", plain, f"{gf * 1000:.0f} MFLOP, {gf / plain * 1000:.0f} GFLOP/s"))
    rows.append(("forward, all activations captured, traced (first frame)", t_traced, f"{t_traced / plain:.2f}x plain"))
    rows.append(("forward, all activations captured, replayed (every later frame)", t_rep,
                 f"{t_rep / plain:.2f}x plain (target <= 1.15x); {t_traced / t_rep:.2f}x faster than traced"))
    bf16_rows = native or not quick  # --quick skips bf16 where it is emulated (seconds per row)
    if bf16_rows:
        anb = Analyzer(model, layers, bf16_forward=True)
        fpb = anb.forward(x)
        fwd_b = median_ms(lambda: anb.forward(x), repeat if native else 3, warmup=1)
        d_act = rel_diff(fpb.activation("conv6"), fp.activation("conv6"))
        d_img = rel_diff(anb.attribute(fpb, units[:1], Method.GUIDED).images,
                         an.attribute(fp, units[:1], Method.GUIDED).images)
        rows.append(("forward, replayed, bf16 autocast (--precision bf16)", fwd_b, f"{fwd_b / t_rep:.2f}x fp32; conv6 "
                     f"max rel diff {d_act:.1e}, a conv6 unit's guided image {d_img:.1e}{emulated}"))
    one = median_ms(lambda: an.attribute(fp, units[:1], Method.GUIDED), repeat)
    one_slow = median_ms(lambda: slow.attribute(fps, units[:1], Method.GUIDED), repeat)
    rows.append(("one conv6 unit, guided backprop, given forward (cone)", one, "target <= 2 ms"))
    rows.append(("one conv6 unit, guided backprop, given forward (autograd)", one_slow, f"cone is {one_slow / one:.1f}x faster"))
    # the whole layer: 192 cones of 61.9 MFLOP each, against this machine's convolution peak
    flops = 192 * cone_flops(an._plan(fp, "conv6", fp.outputs["conv6"])) / 1e9
    peak_ms, peak = conv_peak()
    rows.append(("this CPU's fp32 peak: a channels-last 3x3 conv, 192 x 96 x 17 x 17", peak_ms,
                 f"{peak:.0f} GFLOP/s: the 192 cones' {flops:.1f} GFLOP need >= {flops / peak * 1000:.0f} ms at that rate"))
    r = max(5, repeat // 3)
    allu = median_ms(lambda: an.attribute(fp, units, Method.GUIDED), r, warmup=1)
    ref = slow.attribute(fps, units, Method.GUIDED).images
    d32 = rel_diff(an.attribute(fp, units, Method.GUIDED).images, ref)
    rows.append(("all 192 conv6 units, guided backprop, batched, fp32 (cone)", allu,
                 f"{flops / allu * 1000:.0f} GFLOP/s; target <= 120 ms on AVX2, <= 33 ms with bf16; "
                 f"max rel diff to autograd {d32:.1e}"))
    if bf16_rows:
        an16 = Analyzer(model, layers, bf16=True)
        fp16 = an16.forward(x)
        all16 = median_ms(lambda: an16.attribute(fp16, units, Method.GUIDED), r if native else 1, warmup=1)
        d16 = rel_diff(an16.attribute(fp16, units, Method.GUIDED).images, ref)
        rows.append(("all 192 conv6 units, guided backprop, batched, bf16 (cone)", all16, f"{flops / all16 * 1000:.0f} "
                     f"GFLOP/s, {allu / all16:.2f}x fp32; max rel diff to fp32 {d16:.1e}{emulated}"))
    if not quick:
        allslow = median_ms(lambda: slow.attribute(fps, units, Method.GUIDED), 3, warmup=1)
        rows.append(("all 192 conv6 units, batched seeds through autograd (vmap)", allslow,
                     f"cone fp32 is {allslow / allu:.1f}x faster"))
    rows += bench_peers(model, an, fp, units, one, allu, repeat, quick)
    return rows
