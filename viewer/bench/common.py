"""What every benchmark table shares: timing, the table format, the model, and a description of the machine."""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..core.precision import Precision, choose_precision, read_cpu_flags
from ..nets import AllCNNC

Row = tuple[str, float, str]


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def interleaved_ms(fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 3) -> dict[str, float]:
    """Medians of several functions timed in turn (a, b, c, a, b, c, ...): the machine's drift between
    runs, 10-30% on shared machines, then shifts all of them alike, so their ratios hold."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(max(1, repeat)):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def load_allcnn(checkpoint: Path | None):
    from ..core.checkpoint import load_checkpoint
    from ..core.preprocess import InputSpec
    if checkpoint is not None and checkpoint.exists():
        loaded = load_checkpoint(checkpoint)
        return loaded.model, checkpoint.name, InputSpec.from_meta(loaded.meta), list(loaded.meta.get("classes", []))
    torch.manual_seed(0)
    return AllCNNC().eval(), "random weights", InputSpec(), [str(i) for i in range(10)]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines() -> list[str]:
    flags = read_cpu_flags()
    choice = choose_precision(Precision.AUTO)
    return [f"CPU: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} "
            f"threads, vector ISA {torch.backends.cpu.get_cpu_capability()} ({flags.detail})",
            f"precision --precision auto picks here: {choice.reason}"]


def conv_peak(repeat: int = 5) -> tuple[float, float]:
    """(ms, GFLOP/s) of a channels-last fp32 3x3 convolution the size of the cone's largest step (192 windows
    of 96 channels, 17x17 -> 15x15): what a well-fed convolution reaches on this machine, for the floor."""
    x = torch.randn(192, 96, 17, 17).contiguous(memory_format=torch.channels_last)
    w = torch.randn(96, 96, 3, 3)
    with torch.no_grad():
        ms = median_ms(lambda: F.conv2d(x, w), repeat, warmup=1)
    return ms, 2 * 96 * 96 * 9 * 15 * 15 * 192 / ms / 1e6


def print_table(title: str, rows: list[Row], unit: str = "median ms") -> None:
    print(f"\n{title}\n")
    w = max(len(r[0]) for r in rows)
    print(f"| {'what'.ljust(w)} | {unit} | note |")
    print(f"| {'-' * w} | ---: | --- |")
    for name, ms, note in rows:
        print(f"| {name.ljust(w)} | {ms:9.2f} | {note} |")
