"""Which floating-point precision to compute in: chosen by what the machine does, never by assumption.

bfloat16 halves the memory traffic and, on CPUs with native bf16 instructions (AVX512_BF16, AMX on x86;
the BF16 extension on Arm), runs convolutions about 1.5-3x faster than fp32. Without them PyTorch
emulates bf16 and the same convolution is 40-70x *slower* (measured on an AVX2-only AMD EPYC: the
All-CNN-C forward took 553 ms in bf16 against 7.5 ms in fp32). So `Precision.AUTO` picks bf16 where the
CPU's ISA flags say it is native, fp32 where they say it is missing (neither is timed: a decision that
every process on a machine makes alike), and where the operating system does not list the flags, a short
timing of one convolution in both precisions decides. fp32 results are exact (reconstructions equal autograd and
Captum to ~1e-7); bf16 ones differ slightly (a conv6 unit's guided-backprop image by up to a few percent
of its peak), so `--precision fp32` is the choice for numbers, `auto` for speed.

    choice = choose_precision(Precision.AUTO, torch.device("cpu"))
    choice.bf16, choice.reason      # False, "fp32 (auto): this CPU has no native bfloat16 (...)"
"""
from __future__ import annotations

import enum
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")   # x86 flags in /proc/cpuinfo
ARM_BF16_FEATURE = "bf16"                          # aarch64 "Features" in /proc/cpuinfo
MIN_SPEEDUP = 1.1                                  # bf16 must beat fp32 by this much to be picked


class Precision(enum.Enum):
    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"


@dataclass(frozen=True)
class CpuBf16:
    """What the ISA flags say: native True/False, or None where the OS does not list them."""
    native: bool | None
    detail: str                 # e.g. "AVX512_BF16, AMX_BF16" or "AVX2, no AVX512_BF16/AMX_BF16"


@dataclass(frozen=True)
class PrecisionChoice:
    bf16: bool
    reason: str                 # one sentence for the logs and the bench: what was chosen and why
    short: str = ""             # a few words for the status bar

    @property
    def label(self) -> str:
        return "bf16" if self.bf16 else "fp32"


def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuBf16:
    """Native bfloat16 support from the CPU's flags (Linux); native=None where there is no cpuinfo."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return CpuBf16(None, "no /proc/cpuinfo")
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    if not flags:
        return CpuBf16(None, "cpuinfo lists no flags")
    found = [f for f in NATIVE_BF16_FLAGS if f in flags]
    if found:
        return CpuBf16(True, ", ".join(f.upper() for f in found))
    if ARM_BF16_FEATURE in flags:
        return CpuBf16(True, "Arm BF16")
    best = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimd", "NEON"))
                 if flag in flags), "no vector")
    return CpuBf16(False, f"{best}, no AVX512_BF16/AMX_BF16")


def bf16_speedup(device: torch.device = torch.device("cpu"), repeat: int = 3) -> float:
    """fp32 time / bf16-autocast time of one small convolution (a few ms even where bf16 is emulated)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 32, 16, 16, generator=g).to(device)    # 19 MFLOP per call
    w = torch.randn(32, 32, 3, 3, generator=g).to(device)

    def once(bf16: bool) -> float:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            F.conv2d(x, w, padding=1)                          # warm-up: kernel selection
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                F.conv2d(x, w, padding=1)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
        return statistics.median(times)
    return once(False) / max(once(True), 1e-9)


def choose_precision(requested: Precision, device: torch.device = torch.device("cpu"),
                     flags: Callable[[], CpuBf16] = read_cpu_flags,
                     speedup: Callable[[torch.device], float] = bf16_speedup) -> PrecisionChoice:
    """The precision to run in, with the reason. flags and speedup are the two probes (tests fake them)."""
    if requested is Precision.FP32:
        return PrecisionChoice(False, "fp32 (as asked)", "fp32")
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        if requested is Precision.BF16:
            return PrecisionChoice(True, "bf16 (as asked)" + ("" if ok else "; this GPU has no native bf16"), "bf16")
        return (PrecisionChoice(True, "bf16 (auto): native on this GPU", "bf16 (auto)") if ok else
                PrecisionChoice(False, "fp32 (auto): this GPU has no bf16", "fp32 (auto)"))
    if device.type != "cpu":
        bf16 = requested is Precision.BF16
        return PrecisionChoice(bf16, f"{'bf16 (as asked)' if bf16 else 'fp32 (auto)'} on {device.type}",
                               "bf16" if bf16 else "fp32 (auto)")
    cpu = flags()
    if requested is Precision.BF16:
        if cpu.native is False:
            return PrecisionChoice(True, f"bf16 (as asked), but this CPU has no native bfloat16 ({cpu.detail}): "
                                         "emulated, 40-70x slower than fp32", "bf16 (emulated: slow)")
        return PrecisionChoice(True, "bf16 (as asked)", "bf16")
    if cpu.native is False:
        return PrecisionChoice(False, f"fp32 (auto): this CPU has no native bfloat16 ({cpu.detail}); "
                                      "bf16 would be emulated, 40-70x slower", "fp32 (auto: no native bf16)")
    if cpu.native:   # detected: no timing (a one-convolution timing is noise on a busy 2-core machine, and two
        # processes of one run, a stop and its resume, must choose alike)
        return PrecisionChoice(True, f"bf16 (auto): this CPU runs bfloat16 natively ({cpu.detail})",
                               "bf16 (auto: native)")
    s = speedup(device)
    source = "ISA flags unknown"
    if s >= MIN_SPEEDUP:
        return PrecisionChoice(True, f"bf16 (auto): {source}, a test convolution ran {s:.1f}x faster than fp32",
                               f"bf16 (auto: {s:.1f}x fp32)")
    return PrecisionChoice(False, f"fp32 (auto): {source}, but a test convolution ran at {s:.2f}x fp32 in bf16",
                           "fp32 (auto: bf16 not faster)")


FP32 = PrecisionChoice(False, "fp32", "fp32")
