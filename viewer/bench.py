"""Benchmarks that print a table:  python -m viewer.bench [core] [--checkpoint PATH] [--repeat N]

Medians over repeated runs after a warm-up, on this machine's CPU (threads: torch's default).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from .core.attribution import Analyzer, ChannelTarget
from .core.graph import build_graph
from .core.models import AllCNNC
from .core.rules import Method

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "allcnn_c_cifar10.pt"


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def load_allcnn(checkpoint: Path | None) -> tuple[torch.nn.Module, str]:
    if checkpoint is not None and checkpoint.exists():
        from .core.checkpoint import load_checkpoint
        return load_checkpoint(checkpoint).model, checkpoint.name
    torch.manual_seed(0)
    return AllCNNC().eval(), "random weights"


def bench_core(model: torch.nn.Module, repeat: int, size: int = 32) -> list[tuple[str, float, str]]:
    layers = build_graph(model, (3, size, size))
    an = Analyzer(model, layers)
    x = torch.rand(1, 3, size, size)
    fp = an.forward(x)
    conv6 = [ChannelTarget("conv6", c) for c in range(192)]
    rows = []
    with torch.no_grad():
        rows.append(("plain forward, no capture (reference)", median_ms(lambda: model(x), repeat), ""))
    rows.append(("forward, all activations captured (+ graph)", median_ms(lambda: an.forward(x), repeat), ""))
    one = median_ms(lambda: an.attribute(fp, conv6[:1], Method.GUIDED), repeat)
    rows.append(("one conv6 unit, guided backprop, given forward", one, "target <= 2 ms"))
    allu = median_ms(lambda: an.attribute(fp, conv6, Method.GUIDED), max(3, repeat // 5), warmup=1)
    rows.append(("all 192 conv6 units, guided backprop, batched", allu, "target <= 50 ms"))
    return rows


def print_table(title: str, rows: list[tuple[str, float, str]]) -> None:
    print(f"\n{title}")
    w = max(len(r[0]) for r in rows)
    print(f"| {'stage'.ljust(w)} | median ms | note |")
    print(f"| {'-' * w} | ---: | --- |")
    for name, ms, note in rows:
        print(f"| {name.ljust(w)} | {ms:9.2f} | {note} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m viewer.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", default="core", choices=["core"], help="which benchmark")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--repeat", type=int, default=30)
    a = p.parse_args(argv)
    model, label = load_allcnn(a.checkpoint)
    print(f"All-CNN-C ({label}), 32x32 input, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print_table("core", bench_core(model, a.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
