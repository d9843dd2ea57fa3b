"""Per-epoch snapshots of a training run, for the viewer's scrubber (`--model RUN_FOLDER`).

After every epoch (and once before the first step: epoch 0, the random start) the trainer writes the
model's weights as a viewer checkpoint with an fp16 state dict (half the size of fp32; BatchNorm's
counters stay integers) into the run's snapshot folder, `epoch_NNN.pt`. Each file carries the epoch, the
test accuracy measured at the end of that epoch (in training's precision) and the run's identity (arch,
command, settings), so a folder of them is a series the viewer can order and step through.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..core.checkpoint import atomic_save, make_checkpoint

SNAPSHOT_NAME = "epoch_{:03d}.pt"


def half_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU, floating tensors in fp16 (integers as they are)."""
    return {k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()).clone()
            for k, v in model.state_dict().items()}


def save_snapshot(tr, folder: Path, epoch: int, test_accuracy: float | None, argv: list[str]) -> Path:
    """Write Trainer tr's current weights as epoch `epoch`'s snapshot in `folder` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    ck = make_checkpoint(tr.model, tr.cfg.arch, tr.arch_args, {})
    ck["state_dict"] = half_state(tr.model)
    ck["meta"] = {
        "classes": list(tr.data.classes), "input_size": [32, 32],
        "mean": [float(v) for v in tr.mean], "std": [float(v) for v in tr.std],
        "snapshot": True, "epoch": epoch, "planned_epochs": tr.cfg.epochs,
        "test_accuracy": test_accuracy, "test_images": int(len(tr.data.test.images)),
        "test_precision": "bf16" if tr.cfg.bf16 else "fp32",
        "seed": tr.cfg.seed, "train_config": dict(tr.cfg.__dict__),
        "command": " ".join(["python -m viewer.training.train", *argv]),
        "note": f"weights after epoch {epoch} of {tr.cfg.epochs} (fp16), a step of a training run",
    }
    path = folder / SNAPSHOT_NAME.format(epoch)
    atomic_save(ck, path)
    return path
