"""The unit atlas's cost (python -m viewer.bench atlas): every convolution layer of All-CNN-C over a data set
(the 10,000 CIFAR-10 test images by default), K = 9, every registered method's reconstruction of every entry, with the
scan's images/s, the reconstructions/s and the GFLOP/s of each against this machine's convolution peak."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..atlas.build import build_atlas
from ..atlas.data import open_image_set
from ..atlas.scan import IMAGES_PER_PASS
from ..core.attribution import Analyzer, ChannelTarget
from ..core.checkpoint import load_checkpoint
from ..core.cone import cone_flops
from ..core.graph import build_graph
from ..core.preprocess import InputSpec, to_batch
from ..core.rules import Method
from .common import Row, conv_peak
from .core import forward_gflop


def recon_gflop(checkpoint: Path, atlas) -> float:
    """The cones' FLOPs of the atlas's reconstructions (one per stored method and entry), per layer's cone
    on one image."""
    loaded = load_checkpoint(checkpoint)
    model, spec = loaded.model.eval(), InputSpec.from_meta(loaded.meta)
    layers = build_graph(model, (3, *spec.size))
    an = Analyzer(model, layers)
    fp = an.forward(torch.rand(1, 3, *spec.size))
    total = 0.0
    for name, la in atlas.layers.items():
        an.attribute(fp, [ChannelTarget(name, 0)], Method.GUIDED)
        plan = an._plan(fp, name, fp.outputs[name])
        if plan is not None:
            total += len(la.recons) * int((la.images >= 0).sum()) * cone_flops(plan) / 1e9
    return total


def second_forward_s(checkpoint: Path, atlas) -> float:
    """Seconds of the reconstructions' own forward pass (exact, every ReLU input kept for the cones' masks) over
    the images that hold entries, in the reconstructions' batches: the part of them that is not cones."""
    loaded = load_checkpoint(checkpoint)
    model, spec = loaded.model.eval().to(memory_format=torch.channels_last), InputSpec.from_meta(loaded.meta)
    an = Analyzer(model, build_graph(model, (3, *spec.size)))
    x = to_batch(atlas.views, spec).contiguous(memory_format=torch.channels_last)
    per_pass = max(1, IMAGES_PER_PASS * 32 * 32 // (x.shape[-2] * x.shape[-1]))   # as scan.reconstruct batches
    an.forward(x[:per_pass], grad=False)               # traced once, as the build's first batch is
    t0 = time.perf_counter()
    for a in range(0, len(x), per_pass):
        an.forward(x[a:a + per_pass], grad=False)
    return time.perf_counter() - t0


def bench_atlas(checkpoint: Path, data: Path, limit: int | None = None) -> list[Row]:
    images = open_image_set(data)
    atlas, st = build_atlas(checkpoint, images, None, 9, limit=limit, progress=False)
    loaded = load_checkpoint(checkpoint)
    spec = InputSpec.from_meta(loaded.meta)
    scan_gf = forward_gflop(loaded.model.eval(), torch.rand(1, 3, *spec.size)) * st.images
    rec_gf = recon_gflop(checkpoint, atlas)
    _, peak = conv_peak()
    n_methods = len(atlas.meta["settings"]["methods"])
    n_rec = n_methods * st.entries
    floor = (scan_gf + rec_gf) / peak
    fwd_s = second_forward_s(checkpoint, atlas)
    return [
        (f"atlas scan: {st.images} images, {len(atlas.layers)} layers, top 9, fp32", st.scan_s * 1000,
         f"{st.images / st.scan_s:.0f} images/s, {scan_gf / 1000:.2f} TFLOP at {scan_gf / st.scan_s:.0f} GFLOP/s"),
        (f"atlas reconstructions: {st.entries} entries x {n_methods} methods", st.recon_s * 1000,
         f"{n_rec / st.recon_s:.0f} reconstructions/s, {rec_gf / 1000:.2f} TFLOP of cones at "
         f"{rec_gf / st.recon_s:.0f} GFLOP/s"),
        (f"... of which their forward pass over the {len(atlas.view_ids)} images that hold entries", fwd_s * 1000,
         f"{fwd_s / st.recon_s:.0%} of them (measured apart); the cones and the rest at "
         f"{rec_gf / max(st.recon_s - fwd_s, 1e-9):.0f} GFLOP/s; the floor below counts no second forward"),
        ("atlas in all (scan + reconstructions)", (st.scan_s + st.recon_s) * 1000,
         f"target <= 60 s on a 2-core bf16 CPU; this machine's floor at its {peak:.0f} GFLOP/s conv peak: "
         f"{floor:.0f} s"),
    ]
