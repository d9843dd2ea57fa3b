"""Train All-CNN-C on CIFAR-10:  python -m viewer.training.train [--epochs 35] [--resume]

--arch model_c|strided_cnn_c|convpool_cnn_c trains one of the paper's comparison networks
(viewer/nets/family_c.py) with the same options, so that one recipe trains all four.

--arch airbench|resnet9|resnet18 trains a different network instead (viewer/nets/teachers.py), meant
only as a distillation teacher (--teacher) for All-CNN-C: airbench is about 2.2x faster here, the ResNets
slower (and, in their papers, more accurate).

bf16 autocast where the machine runs it natively (--precision auto: a GPU with bf16, or a CPU with
AVX512_BF16 / AMX, about 2x fp32 there; fp32 elsewhere, where bf16 would be emulated and 40-70x slower;
viewer/core/precision.py) + channels_last, a one-cycle learning-rate
schedule, random translations (reflect-pad 4 + crop) and horizontal flips, label smoothing, and with
--cutout N a random N x N square of each training image set to the mean colour (DeVries & Taylor 2017,
not in the paper). With --swa N the last N epochs keep a constant learning rate and their weights are
averaged (stochastic weight averaging, Izmailov et al. 2018; BatchNorm statistics re-measured). Every random
draw of a batch (order, augmentation, dropout) comes from a seed derived from (--seed, epoch, batch), so a
run stopped at any step and resumed with --resume is the same run as an uninterrupted one.
With --teacher T (repeatable) the student learns from finished checkpoints' softened outputs
(viewer/training/distill.py); with --teacher-views V from their outputs on V fixed views of each image, computed
once (viewer/training/teacher_views.py).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import torch

from ..cifar10 import DataError, load_cifar10
from ..paths import default_data, prog, version
from ..core.checkpoint import atomic_save
from ..core.precision import Precision, choose_precision
from ..nets import ARCHITECTURES, PAPER_FAMILY
from .config import TrainConfig
from .resume import OtherPrecision
from .trainer import Trainer


def _check_writable(path: Path) -> None:
    if not path.parent.is_dir():
        raise DataError(f"{path.parent}: output folder does not exist")
    if not os.access(path.parent, os.W_OK):
        raise DataError(f"{path.parent}: output folder is not writable")



def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog("viewer.training.train"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    d = TrainConfig()
    p.add_argument("--data", default=str(default_data()), help="cifar10-jpeg.npz or a cifar-10-batches-py folder "
                   "(default: $CNN_VIEWER_DATA, else what `cnn-viewer-data cifar10` downloaded)")
    p.add_argument("--out", default=None, help="final checkpoint path (default: ARCH_trained.pt in the current "
                   "folder; an existing file is never overwritten without --force)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out or --snapshot file, and start "
                   "a fresh run over an existing resume state (which is then replaced)")
    p.add_argument("--state", default=None, help="resume state path (default: OUT.resume)")
    p.add_argument("--resume", action="store_true", help="continue from the resume state (with --precision auto "
                   "also one saved in the other precision by a machine that chose it: the switch is printed "
                   "and recorded in the run's history)")
    p.add_argument("--snapshot", metavar="PATH", help="write the resume state's current model as a checkpoint "
                   "(marked interim, test accuracy measured) to PATH, then exit; the run itself is untouched")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default=d.arch,
                   help="the network: All-CNN-C (the viewer's model), the paper's comparison networks "
                        "model_c, strided_cnn_c, convpool_cnn_c (viewer/nets/family_c.py; same options and "
                        "recipe), or one meant only as a --teacher: "
                        "airbench (after airbench94, Jordan 2024; about 2x faster), resnet9 (Page 2018) or "
                        "resnet18 (He et al. 2016), larger and slower, and more accurate in "
                        "their papers")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (SGD, Nesterov momentum 0.9)")
    p.add_argument("--warmup", type=float, default=d.warmup,
                   help="fraction of the steps spent raising the learning rate from lr/10 to lr")
    p.add_argument("--init", metavar="CHECKPOINT", default=None,
                   help="start from a finished run's checkpoint instead of random weights (a further "
                        "learning-rate cycle); the result's metadata counts both runs")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--drop-in", type=float, default=d.drop_in, help="dropout on the input (paper: 0.2)")
    p.add_argument("--drop-mid", type=float, default=d.drop_mid, help="dropout after stride-2 convs (paper: 0.5)")
    p.add_argument("--cutout", type=int, default=d.cutout, metavar="N",
                   help="blank a random N x N square of each training image (DeVries & Taylor 2017; 0: off)")
    p.add_argument("--teacher", metavar="CHECKPOINT", action="append", default=[],
                   help="distil from this finished checkpoint of this command (any --arch; repeat for an "
                        "ensemble: their softened probabilities are averaged; Hinton et al. 2015, not in the paper)")
    p.add_argument("--distill-alpha", type=float, default=d.distill_alpha,
                   help="weight of the teachers' soft targets; 1 - alpha goes to the labels")
    p.add_argument("--distill-temp", type=float, default=d.distill_temp, help="softmax temperature T")
    p.add_argument("--teacher-views", type=int, default=d.teacher_views, metavar="V",
                   help="run the teachers once on V fixed augmented views of each image (kept in STATE.views) "
                        "instead of on every batch: they then cost V epochs of forward passes in all; the "
                        "student trains on those views (default 0: fresh views, teachers every batch)")
    p.add_argument("--teacher-flip", action="store_true",
                   help="each teacher's target is the mean over the image and its mirror image (the teachers' "
                        "test-time augmentation; twice their cost)")
    p.add_argument("--swa", type=int, default=d.swa, metavar="N",
                   help="average the weights of the last N epochs, run at a constant --swa-lr (stochastic "
                        "weight averaging, Izmailov et al. 2018; 0: off)")
    p.add_argument("--swa-lr", type=float, default=d.swa_lr, help="learning rate of the averaged epochs")
    p.add_argument("--no-bn", action="store_true", help="no BatchNorm (the paper's exact network)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--train-limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--max-steps", type=int, default=None, help="stop (saving the resume state) after N steps")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", choices=[v.value for v in Precision], default=Precision.AUTO.value,
                   help="bf16 autocast or fp32; auto (default): bf16 only where this machine runs it natively "
                        "(a CPU with AVX512_BF16/AMX, checked by its ISA flags and a timed convolution, or a GPU "
                        "with bf16), fp32 elsewhere (AVX2-only CPUs emulate bf16 40-70x slower)")
    p.add_argument("--save-every", type=float, default=10.0, metavar="MIN",
                   help="also save the resume state every MIN minutes within an epoch, so that a killed run "
                        "(a lost session, a power cut) loses at most that much (0: at epoch ends only)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: torch's own choice, all cores); give a background run "
                        "1 so that it does not slow down other work on a small machine many times over. A "
                        "resumed run is bit-identical to an uninterrupted one only at the same thread count")
    p.add_argument("--epoch-snapshots", metavar="DIR", default=None,
                   help="keep the weights after every epoch (fp16, epoch_NNN.pt, epoch 0 = the random start) in "
                        "DIR, for the viewer's scrubber (cnn-viewer --model DIR); default: OUT's name + _epochs "
                        "beside OUT; 'none': keep none")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (summary lines only)")
    a = p.parse_args(argv)
    if a.cutout < 0:
        p.error("--cutout must be 0 (off) or a positive number of pixels")
    if a.arch not in PAPER_FAMILY and (a.no_bn or a.drop_in != d.drop_in or a.drop_mid != d.drop_mid):
        p.error("--no-bn, --drop-in and --drop-mid apply to the paper's networks only (" + ", ".join(PAPER_FAMILY) + ")")
    if a.threads is not None and a.threads < 1:
        p.error("--threads must be 1 or more")
    if not 0 <= a.swa <= a.epochs or (a.swa and a.swa_lr <= 0):
        p.error("--swa must be between 0 and --epochs, and --swa-lr positive")
    if not 0.0 <= a.distill_alpha <= 1.0 or a.distill_temp <= 0:
        p.error("--distill-alpha must be in [0, 1] and --distill-temp positive")
    if a.teacher_flip and not a.teacher:
        p.error("--teacher-flip needs --teacher")
    if a.teacher_views < 0 or (a.teacher_views and not a.teacher):
        p.error("--teacher-views needs --teacher, and must be 0 (off) or a positive number of views")
    return a


def config_from(a: argparse.Namespace, bf16: bool) -> TrainConfig:
    """The run's settings from its options: what a resume state is checked against (resume.py)."""
    same = ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "warmup", "drop_in", "drop_mid",
            "seed", "train_limit", "cutout", "distill_alpha", "distill_temp", "swa", "swa_lr", "arch",
            "teacher_views", "teacher_flip")    # options that are config fields of the same name
    return TrainConfig(**{k: getattr(a, k) for k in same}, bn=not a.no_bn, bf16=bf16,
                       init=str(Path(a.init).resolve()) if a.init else None,
                       teachers=tuple(str(Path(t).resolve()) for t in a.teacher))


def check_paths(a: argparse.Namespace, out: Path, state_path: Path) -> None:
    """DataError before any work where the run could not write, or would overwrite what it did not make."""
    _check_writable(out)
    if (a.resume or a.snapshot) and not state_path.exists():
        raise DataError(f"{state_path}: no resume state to continue from")
    if not a.force:  # never overwrite what this run did not make (the shipped model, a finished run)
        if out.exists() and not a.snapshot:
            raise DataError(f"{out} exists: choose another --out, or pass --force to overwrite it")
        if state_path.exists() and not (a.resume or a.snapshot):
            raise DataError(f"{state_path} holds a run in progress or finished: continue it with --resume, "
                            "or pass --force to start over (the state is then replaced)")
        if a.snapshot and Path(a.snapshot).exists():
            raise DataError(f"{a.snapshot} exists: choose another --snapshot path, or pass --force")


def resume(trainer: Trainer, a: argparse.Namespace, reason: str) -> None:
    """Continue from the resume state. One saved in the other precision (by a machine where --precision
    chose it; resume.py): --resume with --precision auto goes on in this machine's, said in one line and
    kept in the run's history; --snapshot describes the run as saved; an explicit --precision is refused."""
    other = (OtherPrecision.KEEP if a.snapshot else
             OtherPrecision.SWITCH if Precision(a.precision) is Precision.AUTO else OtherPrecision.REFUSE)
    change = trainer.load_state(other)
    print(f"resumed at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch}", flush=True)
    if change:
        print(f"resuming a run saved in {change['from']} in {change['to']} (this machine: {reason}): the rest of "
              "the run is not bit-identical to an uninterrupted one", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    out = Path(a.out) if a.out else Path(f"{a.arch}_trained.pt")
    state_path = Path(a.state) if a.state else out.with_name(out.name + ".resume")
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    precision = choose_precision(Precision(a.precision), device)
    print(f"precision: {precision.reason}", flush=True)
    cfg = config_from(a, precision.bf16)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
    try:
        check_paths(a, out, state_path)
        t = time.perf_counter()
        data = load_cifar10(a.data, limit_test=a.test_limit)
        print(f"data: {len(data.train.images)} train / {len(data.test.images)} test images from {a.data} "
              f"({time.perf_counter() - t:.1f} s)", flush=True)
        trainer = Trainer(cfg, data, device, out, state_path, log=lambda s: print(s, flush=True))
        trainer.save_every_s = 60.0 * a.save_every
        trainer.argv = argv
        if a.epoch_snapshots != "none":
            trainer.snapshot_dir = (Path(a.epoch_snapshots) if a.epoch_snapshots
                                    else out.with_name(out.stem + "_epochs"))
        if cfg.init and not (a.resume or a.snapshot):
            trainer.start_from(Path(cfg.init))
        if a.resume or a.snapshot:
            resume(trainer, a, precision.reason)
        if cfg.teachers and not a.snapshot:
            trainer.load_teachers()
            print("teachers: " + ", ".join(f"{t.name} ({t.test_accuracy or 0:.4f})" for t in trainer.teachers),
                  flush=True)
        if a.snapshot:
            snap = Path(a.snapshot)
            _check_writable(snap)
            ckpt = trainer.final_checkpoint(argv, interim=True)
            atomic_save(ckpt, snap)
            print(f"wrote {snap}: snapshot after epoch {trainer.epoch}, test accuracy "
                  f"{ckpt['meta']['test_accuracy']:.4f} (fp32, {ckpt['meta']['test_images']} images)", flush=True)
            return 0
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    def request_stop(signum, frame):
        trainer.stop_requested = True
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        done = trainer.run(max_steps=a.max_steps, progress=not a.no_progress)
    finally:  # a caller (a test, a notebook) gets its own handlers back
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not done:
        print(f"stopped at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch}; resume state in "
              f"{state_path} (continue with --resume)", flush=True)
        return 0
    ckpt = trainer.final_checkpoint(argv)
    atomic_save(ckpt, out)
    print(f"wrote {out}: test accuracy {ckpt['meta']['test_accuracy']:.4f} (fp32, "
          f"{ckpt['meta']['test_images']} images), {trainer.wall / 60:.1f} min of training", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
