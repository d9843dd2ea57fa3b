"""The paper's two networks side by side (python -m viewer.bench family): All-CNN-C against Model C on one
unit, the whole layer and the compare view (--compare), all through the worker's Pipeline.

Both take the receptive-field cone (core/cone.py): Model C's through its max-pools' switches (each output's
signal to its argmax), All-CNN-C's through strided convolutions.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..core.attribution import ChannelTarget
from ..core.graph import build_graph
from ..core.preprocess import InputSpec
from ..core.rules import Method
from ..nets import build_model
from ..sources import DemoSource
from ..features.compare import Other
from ..features.whole_layer import Units
from ..worker import PairPipeline, Pipeline, Request
from .common import Row, interleaved_ms, load_allcnn


def _model(checkpoint: Path | None, arch: str):
    if checkpoint is not None and checkpoint.exists():
        model, label, spec, _ = load_allcnn(checkpoint)
        return model, label, spec
    torch.manual_seed(0)
    return build_model(arch).eval(), "random weights", InputSpec()


def bench_family(allcnn_ckpt: Path | None, model_c_ckpt: Path | None, repeat: int) -> list[Row]:
    a, a_label, a_spec = _model(allcnn_ckpt, "allcnn_c")
    c, c_label, c_spec = _model(model_c_ckpt, "model_c")
    pa = Pipeline(a, build_graph(a), a_spec)
    pc = Pipeline(c, build_graph(c), c_spec)
    frame = DemoSource().read()
    # the same unit depth in both: 19x19 receptive field, 192 channels at 8x8 (All-CNN-C conv6, Model C pool2)
    req = {"a1": Request(frame, 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED),
           "c1": Request(frame, 0, "pool2", ChannelTarget("pool2", 5), Method.GUIDED),
           "a192": Request(frame, 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED, parts={"whole_layer": Units(0, 192)}),
           "c192": Request(frame, 0, "pool2", ChannelTarget("pool2", 5), Method.GUIDED, parts={"whole_layer": Units(0, 192)})}
    pair = PairPipeline(pa, pc)
    both = Request(frame, 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED,
                   parts={"compare": Other("pool2", ChannelTarget("pool2", 5), 1)})
    fns = {"a1": lambda: pa.compute(req["a1"]), "c1": lambda: pc.compute(req["c1"]),
           "pair": lambda: pair.compute(both)}
    t = interleaved_ms(fns, max(repeat, 10))
    big = interleaved_ms({"a192": lambda: pa.compute(req["a192"]), "c192": lambda: pc.compute(req["c192"])},
                         max(1 if repeat < 5 else 3, repeat // 5), warmup=1 if repeat >= 5 else 0)
    return [
        (f"All-CNN-C ({a_label}): worker step, one conv6 unit, guided (cone)", t["a1"],
         f"{1000 / t['a1']:.0f} results/s"),
        (f"Model C ({c_label}): worker step, one pool2 unit, guided (cone through the max-pools)", t["c1"],
         f"{1000 / t['c1']:.0f} results/s, {t['c1'] / t['a1']:.2f}x All-CNN-C's time"),
        ("All-CNN-C: worker step, whole layer (W), 192 conv6 units + one unit", big["a192"],
         f"{1000 / big['a192']:.1f} results/s"),
        ("Model C: worker step, whole layer (W), 192 pool2 units + one unit", big["c192"],
         f"{1000 / big['c192']:.1f} results/s, {big['c192'] / big['a192']:.2f}x All-CNN-C's time"),
        ("--compare All-CNN-C vs Model C: one worker step computes both (one unit each)", t["pair"],
         f"{1000 / t['pair']:.0f} results/s of the pair; {t['pair'] / (t['a1'] + t['c1']):.2f}x the two alone"),
    ]
