"""The command line of the benchmarks (see the package docstring)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..core.memory import keep_freed_memory
from ..paths import MODEL_C, default_data, prog, version
from ..paths import SHIPPED_MODEL as DEFAULT_CHECKPOINT
from . import __doc__ as DOC
from .common import load_allcnn, machine_lines, print_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog("viewer.bench"), description=DOC,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("what", nargs="?", default="all", choices=["core", "live", "family", "atlas", "resnet", "soak", "lrp", "featvis",
                                                            "process", "all"],
                   help="which benchmark")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--model-c", type=Path, default=MODEL_C, help="Model C checkpoint for the family table "
                   "(default: the shipped one; random weights if absent)")
    p.add_argument("--data", type=Path, default=default_data(), help="data set of the atlas table (default: the "
                   "CIFAR-10 npz; its 10,000 test images)")
    p.add_argument("--atlas-limit", type=int, help="atlas table: only the first N images")
    p.add_argument("--repeat", type=int, default=30, help="timed runs per row (default 30)")
    p.add_argument("--frames", type=int, default=300, help="frames drawn per app-loop measurement")
    p.add_argument("--device", default="cpu", help="resnet table: where the model runs (cpu, cuda, mps, auto)")
    p.add_argument("--quick", action="store_true", help="skip the slow reference rows (autograd vmap, the "
                   "peers looped over 192 units): a check that every row still runs")
    a = p.parse_args(argv)
    keep_freed_memory()  # as the app does (core/memory.py)
    from .core import bench_core
    from .family import bench_family
    from .live import bench_live
    model, label, _, _ = load_allcnn(a.checkpoint)
    print(f"All-CNN-C ({label})")
    for line in machine_lines():
        print(line)
    if a.what in ("core", "all"):
        print_table("core (32x32 input)", bench_core(model, a.repeat, a.quick))
    if a.what in ("live", "all"):
        profile, rows = bench_live(a.checkpoint, a.repeat, a.frames)
        print_table("one live frame, sync (a fresh result every frame), 32x32, demo source: where the time goes",
                    profile)
        print_table("live pipeline", rows)
    if a.what == "resnet":  # needs torchvision: not part of "all"
        from .resnet import bench_resnet
        print_table("ImageNet scale: ResNet-18 at 224x224 (random weights)", bench_resnet(a.repeat, a.device, min(a.frames, 150)))
    if a.what == "process":     # a probe of issue 36: not part of "all"
        from .process import bench_process
        print_table("the model in its own process against the worker thread (the real app loop)",
                    bench_process(a.checkpoint, max(60, a.frames // 2)))
    if a.what == "atlas":   # minutes: not part of "all"
        from .atlas import bench_atlas
        print_table("the unit atlas (python -m viewer.atlas): all convolution layers, K = 9",
                    bench_atlas(a.checkpoint, a.data, a.atlas_limit))
    if a.what == "soak":    # minutes: not part of "all"
        from .soak import bench_soak
        print_table("a long session's memory (python -m viewer.bench soak --frames N)",
                    bench_soak(a.checkpoint, a.frames), unit="MB")
    if a.what in ("lrp", "all"):
        from .lrp import bench_lrp
        print_table("relevance (LRP) beside guided backprop: All-CNN-C 32x32, fp32, demo frame", bench_lrp(a.checkpoint,
                                                                                                            a.repeat, a.quick))
    if a.what == "featvis":   # a minute and more: not part of "all"
        from .featvis import bench_featvis
        print_table("what a unit wants (feature visualization): All-CNN-C 32x32, fp32",
                    bench_featvis(a.checkpoint, a.data, a.atlas_limit, a.quick))
    if a.what in ("family", "all"):
        print_table("the paper's networks side by side (32x32, fp32, demo frame)",
                    bench_family(a.checkpoint, a.model_c, a.repeat))
    return 0
