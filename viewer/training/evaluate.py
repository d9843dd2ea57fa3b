"""Evaluate a checkpoint on the CIFAR-10 test split:

    python -m viewer.training.evaluate --checkpoint checkpoints/allcnn_c_cifar10.pt [--data PATH] [--flip]

Prints overall accuracy, per-class accuracy and the confusion matrix (rows: true class, columns:
predicted). --flip also reports horizontal-flip test-time averaging (mean of the two softmaxes), separately.
--ensemble CKPT (repeatable) also reports the ensemble of --checkpoint and those (mean of the softmaxes),
e.g. to judge teachers for `python -m viewer.training.train --teacher`; with --flip also the ensemble whose members
each average over the image and its mirror image (the targets of `--teacher-flip`).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from ..core.checkpoint import CheckpointError, load_model
from ..core.preprocess import normalised
from ..paths import SHIPPED_MODEL as DEFAULT_CHECKPOINT
from ..paths import default_data, prog, version
from .data import DataError, load_cifar10


@torch.no_grad()
def predict_both(model, images: np.ndarray, mean, std, mirror: bool, batch: int = 500):
    """Softmax probabilities (N, classes) in fp32, and with mirror also their average over the image and
    its mirror image (else None): one pass over the images for both."""
    plain, averaged = [], []
    for i in range(0, len(images), batch):
        x = normalised(images[i:i + batch], mean, std)
        p = model(x).softmax(1)
        plain.append(p.numpy())
        if mirror:
            averaged.append(((p + model(x.flip(-1)).softmax(1)) / 2).numpy())
    return np.concatenate(plain), (np.concatenate(averaged) if mirror else None)


def predict(model, images: np.ndarray, mean, std, flip: bool = False, batch: int = 500) -> np.ndarray:
    """Softmax probabilities (N, classes) in fp32; with flip, the average over the image and its mirror."""
    plain, averaged = predict_both(model, images, mean, std, flip, batch)
    return averaged if flip else plain


def confusion(labels: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (labels, pred), 1)
    return cm


def report(cm: np.ndarray, classes: list[str], title: str) -> str:
    total = cm.sum()
    lines = [f"{title}: accuracy {np.trace(cm) / total:.4f} ({np.trace(cm)}/{total})", "per class:"]
    for i, c in enumerate(classes):
        lines.append(f"  {c:<11} {cm[i, i] / max(1, cm[i].sum()):.4f}")
    w = max(6, max(len(c) for c in classes) + 1)
    lines.append("confusion matrix (rows true, columns predicted):")
    lines.append(" " * w + "".join(c[:6].rjust(7) for c in classes))
    for i, c in enumerate(classes):
        lines.append(c.ljust(w) + "".join(str(v).rjust(7) for v in cm[i]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog("viewer.training.evaluate"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint to evaluate")
    p.add_argument("--data", default=str(default_data()), help="cifar10-jpeg.npz or a cifar-10-batches-py folder "
                   "(default: $CNN_VIEWER_DATA, else what `cnn-viewer-data cifar10` downloaded)")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    p.add_argument("--flip", action="store_true", help="also report horizontal-flip test-time averaging")
    p.add_argument("--ensemble", metavar="CHECKPOINT", action="append", default=[],
                   help="also report the ensemble of --checkpoint and this one (repeatable; mean of softmaxes)")
    a = p.parse_args(argv)
    try:
        loaded = load_model(a.checkpoint)
        others = [load_model(c) for c in a.ensemble]
        data = load_cifar10(a.data, limit_test=a.limit, train=False)
    except (CheckpointError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = loaded.meta
    mean, std = meta.get("mean", [0.5] * 3), meta.get("std", [0.25] * 3)
    classes = list(meta.get("classes", data.classes))
    labels = data.test.labels
    print(f"{a.checkpoint} on {len(labels)} test images of {a.data}")
    plain, probs = predict_both(loaded.model, data.test.images, mean, std, a.flip)
    print(report(confusion(labels, plain.argmax(1), len(classes)), classes, "no test-time augmentation"))
    if a.flip:
        print(report(confusion(labels, probs.argmax(1), len(classes)), classes, "horizontal-flip averaging"))
    if others:
        total = plain.copy()
        total_flip = probs.copy() if a.flip else None
        for c, o in zip(a.ensemble, others):
            p_o, f_o = predict_both(o.model, data.test.images, o.meta.get("mean", mean), o.meta.get("std", std),
                                    a.flip)
            note = ""
            if a.flip:
                total_flip += f_o
                note = f", {(f_o.argmax(1) == labels).mean():.4f} with flip averaging"
            print(f"member {c}: accuracy {(p_o.argmax(1) == labels).mean():.4f}{note}")
            total += p_o
        title = f"ensemble of {1 + len(others)} checkpoints (mean of softmaxes), no test-time augmentation"
        print(report(confusion(labels, total.argmax(1), len(classes)), classes, title))
        if a.flip:
            title = f"ensemble of {1 + len(others)} checkpoints, each averaged over the image and its mirror image"
            print(report(confusion(labels, total_flip.argmax(1), len(classes)), classes, title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
