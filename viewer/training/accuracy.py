"""A model's test accuracy during training: the per-epoch look, in training's precision and on its device.

(The final checkpoint's accuracy is measured with the same function on the CPU in fp32; the standalone
report with per-class accuracy and the confusion matrix is viewer/training/evaluate.py.)
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.preprocess import normalised


def to_input(images: np.ndarray, mean: torch.Tensor, std: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, 32, 32, 3) images -> normalised float (N, 3, 32, 32) on the device (core/preprocess.py)."""
    return normalised(images, mean, std, device)


@torch.no_grad()
def evaluate_accuracy(model, images: np.ndarray, labels: np.ndarray, mean, std, device, bf16: bool,
                      batch: int = 500) -> float:
    """The fraction of images whose top class is their label (model put in eval mode)."""
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        x = to_input(images[i:i + batch], mean, std, device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(x).argmax(1).cpu()
        correct += int((pred == torch.from_numpy(labels[i:i + batch])).sum())
    return correct / max(1, len(images))
