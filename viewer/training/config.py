"""What defines a training run: its settings, its learning-rate schedule and its seeds.

Two runs with the same TrainConfig on the same data are the same run: every random draw (order,
augmentation, dropout, the teacher views, BatchNorm batches) comes from a seed derived from (seed, epoch,
batch) or from a named stream, so a run stopped at any step and resumed is bit-identical to an
uninterrupted one (on the same machine, PyTorch build and thread count).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 35
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup: float = 0.15        # fraction of steps spent ramping the learning rate up
    drop_in: float = 0.0
    drop_mid: float = 0.2
    bn: bool = True
    seed: int = 0
    train_limit: int | None = None   # use only the first N training images (smoke tests)
    init: str | None = None          # start from this checkpoint's weights (a further cycle), not random ones
    cutout: int = 0                  # side of the square blanked in each training image (0: none)
    teachers: tuple[str, ...] = ()   # distil from these finished checkpoints (viewer/training/distill.py)
    distill_alpha: float = 0.9       # weight of the teachers' soft targets in the loss
    distill_temp: float = 4.0        # softmax temperature of the soft targets
    swa: int = 0                     # average the weights of the last N epochs (viewer/training/swa.py)
    swa_lr: float = 0.01             # the constant learning rate of those epochs
    arch: str = "allcnn_c"           # or a teacher network: "airbench", "resnet9", "resnet18"
    teacher_views: int = 0           # > 0: distil from this many fixed views per image (viewer/training/teacher_views.py)
    teacher_flip: bool = False       # each teacher's target averages the image and its mirror image
    bf16: bool = False               # bf16 autocast (chosen by --precision; runs before this field: bf16)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """One cycle of `total` steps: linear from lr/10 up to lr over `warmup`, then linear down to zero;
    with --swa, the steps after the cycle (the averaged epochs) run at the constant swa_lr."""
    if cfg.swa and step >= total:
        return cfg.swa_lr
    up = max(1, int(total * cfg.warmup))
    if step < up:
        return cfg.lr * (0.1 + 0.9 * step / up)
    return cfg.lr * max(0.0, (total - step) / max(1, total - up))


def batch_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one random draw: batch `index` of `epoch`, or a named stream below (negative numbers,
    which no batch uses). Every draw of a run is fixed by --seed, so a resumed run is the same run."""
    return (seed * 1_000_003 + epoch * 10_007 + index) % (2**63 - 1)


def epoch_order_seed(seed: int, epoch: int) -> int:
    """The shuffle of the training images in `epoch`."""
    return batch_seed(seed, epoch, -1)


# named seed streams: (epoch, index) pairs that no batch uses (their values fix existing runs' draws)
BN_EPOCH = -1                 # BatchNorm re-measurement batches (swa): batch i is augmented with (-1, i)
BN_ORDER_STREAM = (-1, -2)    # which training images BatchNorm is re-measured on
VIEWS_STREAM = (-3, -3)       # the fixed augmentations of --teacher-views
