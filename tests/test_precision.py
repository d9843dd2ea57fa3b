"""The precision choice: bf16 only where the machine runs it natively, with the detection faked both ways."""
from pathlib import Path

import pytest
import torch

from viewer.core.precision import CpuBf16, Precision, choose_precision, read_cpu_flags

CPU = torch.device("cpu")
AVX2_FLAGS = "fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi1 bmi2"
SPR_FLAGS = AVX2_FLAGS + " avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8"


def cpuinfo(tmp_path: Path, flags: str, key: str = "flags") -> Path:
    p = tmp_path / "cpuinfo"
    p.write_text("".join(f"processor\t: {i}\nmodel name\t: test CPU\n{key}\t\t: {flags}\n\n" for i in range(2)))
    return p


def test_flags_of_an_avx2_cpu_say_no_native_bf16(tmp_path):
    got = read_cpu_flags(cpuinfo(tmp_path, AVX2_FLAGS))
    assert got.native is False and "AVX2" in got.detail
    # AVX-512 without the BF16 extension (Skylake-X) also emulates bf16
    assert read_cpu_flags(cpuinfo(tmp_path, AVX2_FLAGS + " avx512f avx512bw")).native is False


def test_flags_of_sapphire_rapids_and_an_arm_cpu_say_native(tmp_path):
    got = read_cpu_flags(cpuinfo(tmp_path, SPR_FLAGS))
    assert got.native is True and "AMX_BF16" in got.detail and "AVX512_BF16" in got.detail
    assert read_cpu_flags(cpuinfo(tmp_path, "fp asimd evtstrm aes sve bf16 i8mm", key="Features")).native is True


def test_no_cpuinfo_means_unknown(tmp_path):
    assert read_cpu_flags(tmp_path / "missing").native is None


def never_called(_device):
    raise AssertionError("no timing where the flags already say bf16 is emulated")


def test_auto_on_an_emulating_cpu_is_fp32_without_timing():
    got = choose_precision(Precision.AUTO, CPU, flags=lambda: CpuBf16(False, "AVX2, no AVX512_BF16/AMX_BF16"),
                           speedup=never_called)
    assert got.bf16 is False and "no native bfloat16" in got.reason and "AVX2" in got.reason


def test_auto_on_a_native_cpu_is_bf16_without_timing():
    """Detected, not timed: a stop and its resume (two processes) choose alike even on a busy machine."""
    got = choose_precision(Precision.AUTO, CPU, flags=lambda: CpuBf16(True, "AMX_BF16"), speedup=never_called)
    assert got.bf16 is True and "natively" in got.reason and "AMX_BF16" in got.reason


def test_auto_without_flags_lets_the_timing_decide():
    unknown = lambda: CpuBf16(None, "no /proc/cpuinfo")  # noqa: E731
    assert choose_precision(Precision.AUTO, CPU, flags=unknown, speedup=lambda d: 1.8).bf16 is True
    assert choose_precision(Precision.AUTO, CPU, flags=unknown, speedup=lambda d: 0.02).bf16 is False


@pytest.mark.parametrize("native", [True, False])
def test_an_explicit_request_is_honoured_and_emulation_is_named(native):
    flags = lambda: CpuBf16(native, "x")  # noqa: E731
    assert choose_precision(Precision.FP32, CPU, flags=flags, speedup=never_called).bf16 is False
    got = choose_precision(Precision.BF16, CPU, flags=flags, speedup=never_called)
    assert got.bf16 is True and (("emulated" in got.reason) is (not native))


def test_the_real_timing_probe_measures_a_positive_ratio():
    from viewer.core.precision import bf16_speedup
    assert bf16_speedup(CPU, repeat=1) > 0


def test_the_viewer_follows_the_choice(monkeypatch):
    """--precision (and --bf16, its short form) reaches the built viewer; a contradiction is refused."""
    from viewer import cli
    monkeypatch.setattr(cli, "choose_precision", lambda req, device=CPU: choose_precision(
        req, CPU, flags=lambda: CpuBf16(False, "AVX2"), speedup=never_called))
    built = cli.build(cli.parse_args(["--source", "demo"]))
    assert built.precision.bf16 is False and "auto" in built.precision.reason
    assert cli.build(cli.parse_args(["--bf16"])).precision.bf16 is True
    with pytest.raises(cli.UsageError, match="contradict"):
        cli.build(cli.parse_args(["--bf16", "--precision", "fp32"]))
