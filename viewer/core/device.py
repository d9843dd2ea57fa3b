"""Where the model runs (`--device auto|cpu|cuda|cuda:N|mps`).

auto is the GPU when torch sees one (CUDA, else Apple's MPS), else the CPU. On a GPU the model, its forward
pass, the reconstructions (autograd and the cone alike) and the randomized copies of the sanity check run
there; a Result's arrays are moved to the CPU once per result, and the window draws from them as before.
A device torch does not see is one sentence that says why (a CPU-only torch build, no GPU, no MPS).
"""
from __future__ import annotations

import torch


class DeviceError(ValueError):
    """The asked device cannot be used here; the message is one sentence for the user."""


def _cuda_problem() -> str:
    if torch.version.cuda is None:
        return (f"this torch ({torch.__version__}) is a CPU-only build; install a CUDA build of torch "
                "(pytorch.org) to use an NVIDIA GPU")
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU on this machine"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def choose_device(text: str | None) -> torch.device:
    """The torch.device for a --device value (None: auto); DeviceError with the reason where it is not usable."""
    text = (text or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise DeviceError("--device mps: torch sees no Apple GPU (MPS) here; use --device cpu")
        return torch.device("mps")
    if text == "cuda" or text.startswith("cuda:"):
        index = text.partition(":")[2]
        if index and not index.isdigit():
            raise DeviceError(f"--device {text}: write cuda or cuda:N with N a GPU number")
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {text}: {_cuda_problem()}; use --device cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise DeviceError(f"--device {text}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                              f"numbered from 0")
        return torch.device(text)
    raise DeviceError(f"--device {text}: choose auto, cpu, cuda, cuda:N or mps")


def describe(device: torch.device) -> str:
    """The device for the status bar: "cpu", "cuda:0 (NVIDIA H200)", "mps"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (the CPU for a model with neither)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")
