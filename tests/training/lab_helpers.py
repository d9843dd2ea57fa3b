"""Helpers the training-lab tests share: tiny CIFAR-10 folders, the common options, a teacher checkpoint."""
import pickle

import numpy as np
import torch

from viewer.core.checkpoint import make_checkpoint
from viewer.nets import build_model


def write_batches_folder(root, per_batch=16, seed=0):
    """A cifar-10-batches-py folder with tiny random batches (the official layout and keys)."""
    rng = np.random.default_rng(seed)
    root.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, per_batch)
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[:, :1024] = (labels * 25)[:, None]  # the red plane encodes the class: learnable
        with open(root / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels.tolist()}, fh)
    return root


ARGS = ["--epochs", "2", "--batch-size", "16", "--no-progress", "--lr", "0.05"]


def teacher_file(path, mean, std):
    torch.manual_seed(1)
    model = build_model("allcnn_c", num_classes=10, bn=True, drop_in=0.0, drop_mid=0.2).eval()
    torch.save(make_checkpoint(model, "allcnn_c", {"num_classes": 10, "bn": True, "drop_in": 0.0,
                                                   "drop_mid": 0.2},
                               {"mean": mean, "std": std, "test_accuracy": 0.5}), path)
    return model
