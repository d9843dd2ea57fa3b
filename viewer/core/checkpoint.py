"""One checkpoint format, safe loading, and clear one-sentence errors.

A checkpoint is a plain dict saved with `torch.save` and loadable with `torch.load(weights_only=True)`:

    {"format": "cnn-viewer-checkpoint", "version": 1, "arch": "allcnn_c", "arch_args": {...},
     "state_dict": {...}, "meta": {"classes": [...], "input_size": [32, 32], "mean": [...], ...}}

`load_model` also opens a TorchScript archive and a `package.module:callable` factory (plus an optional
weights file). Nothing here ever unpickles arbitrary objects.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..nets import ARCHITECTURES, build_model

FORMAT = "cnn-viewer-checkpoint"
VERSION = 1


class CheckpointError(Exception):
    """A model could not be opened; the message is one sentence meant for the user."""


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module
    meta: dict[str, Any] = field(default_factory=dict)
    arch: str = "unknown"
    source: str = ""


class ScriptedModel(nn.Module):
    """A TorchScript module behind a plain module: TorchScript refuses forward hooks and hides its relu
    calls, so the viewer sees it as one layer (its output) and offers the plain gradient only."""

    def __init__(self, scripted):
        super().__init__()
        object.__setattr__(self, "scripted", scripted)  # not a child: nothing inside to hook

    def forward(self, x):
        return self.scripted(x)


def make_checkpoint(model: nn.Module, arch: str, arch_args: dict, meta: dict) -> dict:
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"format": FORMAT, "version": VERSION, "arch": arch, "arch_args": dict(arch_args),
            "state_dict": state, "meta": dict(meta)}


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves a half file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_of(path: Path) -> str:
    """The sha256 of a file, or of a folder's files (names and contents, sorted): a data set's or a model's
    identity in what a run records."""
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.is_file():
                h.update(f.name.encode())
                h.update(f.read_bytes())
        return h.hexdigest()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def safe_torch_load(path: Path) -> Any:
    """torch.load(weights_only=True) on the CPU, every failure one CheckpointError sentence (the one place
    the project reads a .pt file it did not just write)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file") from None
    except Exception as e:  # torch raises several types; all mean "not something we can safely read"
        text = str(e)
        if "Unsupported global" in text or "GLOBAL" in text or "Unsupported class" in text:
            raise CheckpointError(
                f"{path}: refused, the file is a pickle that needs Python code to load (unsafe for an "
                "untrusted file); save a state_dict checkpoint instead") from None
        raise CheckpointError(f"{path}: not a model file this tool opens (a checkpoint .pt, weights .safetensors, an "
                              f"ONNX graph .onnx, a torch.export .pt2; {type(e).__name__})") from None


def read_weights(path: Path) -> Any:
    """A weights file as data: `.safetensors` through the safetensors package (an optional dependency: made to be
    safe to load), anything else through safe_torch_load (weights_only)."""
    if path.suffix != ".safetensors":
        return safe_torch_load(path)
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f"{path}: reading .safetensors needs the safetensors package (pip install "
                              "safetensors)") from None
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:   # the package raises its own error types for a damaged header or body
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__})") from None


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/", 1)[-1].startswith("code/") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _describe_mismatch(model: nn.Module, state: dict) -> str | None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    parts = []
    if missing:
        parts.append(f"missing keys {missing[:5]}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        parts.append(f"unexpected keys {unexpected[:5]}" + (" ..." if len(unexpected) > 5 else ""))
    for k, v in state.items():
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape):
            parts.append(f"first shape mismatch at '{k}': checkpoint {tuple(v.shape)}, "
                         f"model {tuple(own[k].shape)}")
            break
    return "; ".join(parts) or None


def _load_state(model: nn.Module, state: Any, where: str) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: holds no state dict")
    problem = _describe_mismatch(model, state)
    if problem:
        raise CheckpointError(f"{where}: the weights do not fit the model ({problem})")
    model.load_state_dict(state)


TRUST_FLAG = "--trust-model-code"


def load_checkpoint(path: str | os.PathLike, trust_code: bool = False) -> LoadedModel:
    """Open a checkpoint in our format; the model is returned in eval mode. A TorchScript archive is a program
    (torch.jit.load runs its code; PyTorch's SECURITY.md: treat it as code from its source): opened only with
    trust_code (--trust-model-code), refused with one sentence otherwise."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix.lower() == ".onnx":
        from .onnx_model import load_onnx
        return load_onnx(path)
    if path.suffix.lower() == ".pt2":
        return _load_exported(path, trust_code)
    if _is_torchscript(path):
        if not trust_code:
            raise CheckpointError(f"{path}: a TorchScript archive is a program, not data (loading it runs its code): "
                                  f"refused; the viewer (cnn-viewer, run_viewer.py) opens it with {TRUST_FLAG} if "
                                  "you trust where it came from")
        try:
            model = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:
            raise CheckpointError(f"{path}: TorchScript archive could not be loaded ({e.__class__.__name__})") from None
        return LoadedModel(ScriptedModel(model.eval()).eval(), {}, "torchscript", str(path))
    obj = safe_torch_load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a viewer checkpoint (no '{FORMAT}' header); "
                              "to open a bare state dict, pass a factory with --model package.module:callable")
    arch = obj.get("arch")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture '{arch}' (known: {', '.join(sorted(ARCHITECTURES))})")
    try:
        model = build_model(arch, **obj.get("arch_args", {}))
    except TypeError as e:
        raise CheckpointError(f"{path}: bad arguments for architecture '{arch}' ({e})") from None
    _load_state(model, obj.get("state_dict"), str(path))
    return LoadedModel(model.eval(), dict(obj.get("meta", {})), arch, str(path))


def _load_exported(path: Path, trust_code: bool) -> LoadedModel:
    """A torch.export program (.pt2): torch.export.load unpickles its weights and constants (weights_only=False;
    its documentation: never load one from an untrusted source), so it opens only with trust_code. Unflattened
    back into its modules, every module is a layer; its ReLUs are aten calls the rules know (rules.RELU_FUNCS)."""
    if not trust_code:
        raise CheckpointError(f"{path}: a torch.export program is loaded with pickle (torch.export.load runs code "
                              f"from the file; PyTorch says never to load one from an untrusted source): refused; the "
                              f"viewer opens it with {TRUST_FLAG} if you trust where it came from")
    try:
        program = torch.export.load(str(path))
        model = torch.export.unflatten(program)
    except Exception as e:   # noqa: BLE001  a damaged archive: one sentence
        raise CheckpointError(f"{path}: not a torch.export program that can be opened ({type(e).__name__})") from None
    meta: dict[str, Any] = {}
    args = program.example_inputs[0] if program.example_inputs else ()
    if args and isinstance(args[0], torch.Tensor) and args[0].dim() == 4:
        meta = {"in_channels": int(args[0].shape[1]), "input_size": [int(args[0].shape[2]), int(args[0].shape[3])]}
    return LoadedModel(model, meta, "torch.export", str(path))


def load_factory(spec: str, weights: str | os.PathLike | None = None) -> LoadedModel:
    """`package.module:callable` returns an nn.Module; optional weights: a state dict (.pt, or .safetensors) or our
    checkpoint."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CheckpointError(f"'{spec}': a model factory is written package.module:callable")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise CheckpointError(f"'{spec}': cannot import module '{module_name}' ({e})") from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise CheckpointError(f"'{spec}': module '{module_name}' has no attribute '{attr}'")
    try:
        model = factory()
    except Exception as e:
        raise CheckpointError(f"'{spec}': calling the factory failed ({type(e).__name__}: {e})") from None
    if not isinstance(model, nn.Module):
        raise CheckpointError(f"'{spec}': the factory returned {type(model).__name__}, not a torch.nn.Module")
    meta: dict[str, Any] = {}
    if weights is not None:
        wpath = Path(weights)
        obj = read_weights(wpath)
        if isinstance(obj, dict) and obj.get("format") == FORMAT:
            meta = dict(obj.get("meta", {}))
            obj = obj.get("state_dict")
        elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]
        _load_state(model, obj, str(wpath))
    return LoadedModel(model.eval(), meta, spec, spec)


def load_model(spec: str, weights: str | None = None, trust_code: bool = False) -> LoadedModel:
    """A file path (a checkpoint; TorchScript with trust_code) or a `package.module:callable` factory (code the
    user names: it is imported)."""
    if ":" in spec and not Path(spec).exists() and not (len(spec) > 1 and spec[1] == ":"):
        return load_factory(spec, weights)
    if weights is not None:
        raise CheckpointError("--weights goes with a factory (package.module:callable), not with a checkpoint file")
    return load_checkpoint(spec, trust_code)
