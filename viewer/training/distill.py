"""Knowledge distillation for `python -m viewer.training.train --teacher CKPT ...` (Hinton et al. 2015).

The teachers are finished checkpoints of this tool's training (All-CNN-C, or one of the teacher networks
`airbench`, `resnet9`, `resnet18`, trained by this code on the same training set). Each batch, after
augmentation, goes through every teacher (eval mode, no gradients); their softened class probabilities are averaged, and the student's loss is

    (1 - alpha) * cross_entropy(student, label, label_smoothing) + alpha * T^2 * KL(teacher_T || student_T)

where X_T is softmax(logits / T). Teachers see exactly the student's (augmented) image, re-normalised
with their own mean/std, so a run stays deterministic and resumable.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..core.checkpoint import CheckpointError, safe_torch_load
from ..nets import ARCHITECTURES, build_model
from .data import DataError, sha256_of


@dataclass(frozen=True)
class Teacher:
    name: str
    sha256: str
    test_accuracy: float | None
    model: torch.nn.Module
    scale: torch.Tensor   # student-normalised x -> teacher-normalised: x * scale + shift, per channel
    shift: torch.Tensor


def read_finished(path: Path, missing: str, unfinished: str) -> dict:
    """A finished checkpoint of this tool's training (weights_only), or DataError with one sentence;
    missing / unfinished: the ends of the sentences for a file that is absent / an interim snapshot."""
    try:
        ck = safe_torch_load(Path(path))
    except CheckpointError as e:
        raise DataError(f"{path}: {missing}" if not Path(path).exists() else str(e)) from None
    if not isinstance(ck, dict) or ck.get("arch") not in ARCHITECTURES or "state_dict" not in ck:
        known = " or ".join(sorted(ARCHITECTURES))
        raise DataError(f"{path}: not a checkpoint of this tool's training ({known})")
    if ck.get("meta", {}).get("interim"):
        raise DataError(f"{path}: is a snapshot of an unfinished run; {unfinished}")
    return ck


def load_teacher(path: Path, mean: torch.Tensor, std: torch.Tensor, num_classes: int,
                 device: torch.device) -> Teacher:
    """A finished checkpoint (either trainable architecture) as a frozen teacher; mean/std are the
    student's normalisation."""
    ck = read_finished(path, "no such teacher checkpoint", "a teacher must be finished")
    meta, arch_args = ck.get("meta", {}), dict(ck.get("arch_args", {}))
    if arch_args.get("num_classes", 10) != num_classes:
        raise DataError(f"{path}: the teacher has {arch_args.get('num_classes')} classes, the data {num_classes}")
    model = build_model(ck["arch"], **arch_args)
    model.load_state_dict(ck["state_dict"])
    model.eval().requires_grad_(False)
    t_mean = torch.tensor(meta.get("mean", mean.tolist()), dtype=torch.float32)
    t_std = torch.tensor(meta.get("std", std.tolist()), dtype=torch.float32)
    scale, shift = std / t_std, (mean - t_mean) / t_std
    return Teacher(Path(path).name, sha256_of(Path(path)), meta.get("test_accuracy"),
                   model.to(device).to(memory_format=torch.channels_last),
                   scale.view(1, 3, 1, 1).to(device), shift.view(1, 3, 1, 1).to(device))


@torch.no_grad()
def teacher_probs(teachers: list[Teacher], x: torch.Tensor, temperature: float, flip: bool = False,
                  bf16: bool = False) -> torch.Tensor:
    """Mean of the teachers' softmax(logits / T) on the student's normalised batch x, in fp32; with flip,
    each teacher's is the mean over x and its mirror image (the teachers' test-time augmentation); with
    bf16, the teachers run under bf16 autocast (training's precision, viewer/core/precision.py)."""
    inputs = [x, x.flip(-1)] if flip else [x]
    total = None
    for t in teachers:
        for xi in inputs:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = t.model(xi * t.scale + t.shift)
            p = F.softmax(logits.float() / temperature, dim=1)
            total = p if total is None else total + p
    return total / (len(teachers) * len(inputs))


def distill_loss(student_logits: torch.Tensor, target_probs: torch.Tensor, labels: torch.Tensor,
                 alpha: float, temperature: float, label_smoothing: float) -> torch.Tensor:
    hard = F.cross_entropy(student_logits, labels, label_smoothing=label_smoothing)
    log_q = F.log_softmax(student_logits / temperature, dim=1)
    soft = F.kl_div(log_q, target_probs, reduction="batchmean") * temperature ** 2
    return (1.0 - alpha) * hard + alpha * soft


def describe(teachers: list[Teacher]) -> list[dict]:
    """What goes into the student's metadata about its teachers."""
    return [{"name": t.name, "sha256": t.sha256, "test_accuracy": t.test_accuracy} for t in teachers]
