"""The paper's Table 3 remade (python -m viewer.training.table3 CHECKPOINT...): each checkpoint's test error beside
Springenberg et al. 2015's for the same network, as a markdown table with the command that trained each row.

    python -m viewer.training.table3 checkpoints/*_cifar10.pt             # errors as their metadata records them
    python -m viewer.training.table3 checkpoints/*_cifar10.pt --measure   # measured again on the 10,000 test images

The paper's errors (Table 3, CIFAR-10 without data augmentation, 350 epochs): All-CNN-C 9.08%, ConvPool-CNN-C 9.31%,
Model C 9.74%, Strided-CNN-C 10.19%. Rows come in the paper's order, each with its epochs, seed and the command
that trained it (read from the checkpoint), so rows trained differently show it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.checkpoint import CheckpointError, load_checkpoint
from ..paths import default_data, prog, shipped, version
from .data import DataError

PAPER = {"allcnn_c": ("All-CNN-C", 9.08), "convpool_cnn_c": ("ConvPool-CNN-C", 9.31), "model_c": ("Model C", 9.74),
         "strided_cnn_c": ("Strided-CNN-C", 10.19)}


def rows(paths: list[Path], measured: dict[Path, float] | None = None) -> list[str]:
    """The markdown table's lines: a header, then one row per checkpoint in the paper's order."""
    loaded = []
    for p in paths:
        ck = load_checkpoint(p)
        if ck.arch not in PAPER:
            raise CheckpointError(f"{p}: a {ck.arch} network is not one of the paper's four")
        loaded.append((list(PAPER).index(ck.arch), p, ck))
    out = ["| network | paper's error | ours | epochs | seed | trained by |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    for _, p, ck in sorted(loaded, key=lambda t: t[0]):
        name, paper = PAPER[ck.arch]
        acc = measured[p] if measured and p in measured else ck.meta.get("test_accuracy")
        ours = f"{100 * (1 - acc):.2f}%" if acc is not None else "not recorded"
        cmd = ck.meta.get("command", "")
        out.append(f"| {name} | {paper:.2f}% | {ours} | {ck.meta.get('epochs', '?')} | "
                   f"{ck.meta.get('train_config', {}).get('seed', '?')} | `{cmd}` |")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog("viewer.training.table3"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("checkpoints", nargs="+", type=lambda t: Path(shipped(t)),
                   help="checkpoints of the paper's networks (checkpoints/... also from an installed package)")
    p.add_argument("--measure", action="store_true", help="measure each on the test images again (else: the "
                   "accuracy its metadata records)")
    p.add_argument("--data", default=str(default_data()), help="CIFAR-10 for --measure (default: %(default)s)")
    a = p.parse_args(argv)
    try:
        measured = None
        if a.measure:
            from .data import load_cifar10
            from .evaluate import predict
            ds = load_cifar10(a.data, train=False)
            measured = {}
            for path in a.checkpoints:
                ck = load_checkpoint(path)
                probs = predict(ck.model, ds.test.images, ck.meta["mean"], ck.meta["std"])
                measured[path] = float((probs.argmax(1) == ds.test.labels).mean())
        print("\n".join(rows(a.checkpoints, measured)))
    except (CheckpointError, DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
