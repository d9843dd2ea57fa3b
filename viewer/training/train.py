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

import numpy as np
import torch
import torch.nn.functional as F

from ..core.checkpoint import atomic_save, make_checkpoint
from ..core.precision import Precision, choose_precision
from ..core.preprocess import normalised
from ..nets import ARCHITECTURES, PAPER_FAMILY, build_model
from .augment import augment
from .config import (
    BN_EPOCH,
    BN_ORDER_STREAM,
    VIEWS_STREAM,
    TrainConfig,
    batch_seed,
    epoch_order_seed,
    lr_at,
)
from .data import DEFAULT_DATA, DataError, Dataset, load_cifar10
from .distill import distill_loss, load_teacher, read_finished, teacher_probs
from .record import STAGE_KEYS, run_record
from .resume import restore, resume_state
from .snapshots import save_snapshot
from .swa import WeightAverage, recompute_bn
from .teacher_views import TeacherViews


def to_input(images: np.ndarray, mean: torch.Tensor, std: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, 32, 32, 3) images -> normalised float (N, 3, 32, 32) on the device (core/preprocess.py)."""
    return normalised(images, mean, std, device)


@torch.no_grad()
def evaluate_accuracy(model, images: np.ndarray, labels: np.ndarray, mean, std, device, bf16: bool,
                      batch: int = 500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        x = to_input(images[i:i + batch], mean, std, device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(x).argmax(1).cpu()
        correct += int((pred == torch.from_numpy(labels[i:i + batch])).sum())
    return correct / max(1, len(images))


def _check_writable(path: Path) -> None:
    if not path.parent.is_dir():
        raise DataError(f"{path.parent}: output folder does not exist")
    if not os.access(path.parent, os.W_OK):
        raise DataError(f"{path.parent}: output folder is not writable")


class Trainer:
    def __init__(self, cfg: TrainConfig, data: Dataset, device: torch.device, out: Path, state_path: Path,
                 log=print):
        self.cfg, self.data, self.device, self.out, self.state_path, self.log = cfg, data, device, out, state_path, log
        n = len(data.train.images) if cfg.train_limit is None else min(cfg.train_limit, len(data.train.images))
        keep = np.linspace(0, len(data.train.images) - 1, n).astype(np.int64)  # spread over all classes
        self.train_x, self.train_y = data.train.images[keep], data.train.labels[keep]
        x = self.train_x.reshape(-1, 3).astype(np.float64) / 255.0
        self.mean = torch.tensor(x.mean(0), dtype=torch.float32)
        self.std = torch.tensor(x.std(0), dtype=torch.float32)
        self.arch_args = {"num_classes": len(data.classes)}
        if cfg.arch in PAPER_FAMILY:
            self.arch_args.update(bn=cfg.bn, drop_in=cfg.drop_in, drop_mid=cfg.drop_mid)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.arch, **self.arch_args).to(device).to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True,
                                   weight_decay=cfg.weight_decay)
        self.steps_per_epoch = n // cfg.batch_size  # drop the last partial batch
        self.cycle_steps = self.steps_per_epoch * (cfg.epochs - cfg.swa)  # then constant swa_lr
        self.swa_avg = WeightAverage()
        self.epoch, self.step_in_epoch, self.wall, self.history = 0, 0, 0.0, []
        self.stages: list[dict] = []  # earlier runs these weights went through (--init)
        self.teachers: list = []      # loaded by load_teachers() once mean/std are final
        self.views: TeacherViews | None = None  # with --teacher-views, made by load_teachers()
        self.views_path = state_path.with_name(state_path.name + ".views")
        self.stop_requested = False
        self.save_every_s = 0.0  # > 0: also save the resume state this often within an epoch (--save-every)
        self.snapshot_dir: Path | None = None  # per-epoch fp16 snapshots for the scrubber (snapshots.py)
        self.argv: list[str] = []

    def start_from(self, path: Path) -> None:
        """Weights, mean/std and the training record of an earlier run's checkpoint (--init)."""
        ck = read_finished(path, "no such checkpoint to start from", "finish that run first")
        arch_args = ck.get("arch_args", {})
        if ck["arch"] != self.cfg.arch:
            raise DataError(f"{path}: is an {ck['arch']} network, not the {self.cfg.arch} asked for (--arch)")
        if arch_args.get("bn", True) != self.cfg.bn or arch_args.get("num_classes", 10) != self.arch_args["num_classes"]:
            raise DataError(f"{path}: its network (BatchNorm, classes) differs from the one asked for")
        self.model.load_state_dict(ck["state_dict"])
        meta = ck.get("meta", {})
        if "mean" in meta and "std" in meta:
            self.mean = torch.tensor(meta["mean"], dtype=torch.float32)
            self.std = torch.tensor(meta["std"], dtype=torch.float32)
        earlier = list(meta.get("stages", []))
        if not earlier:  # a single run: summarise it
            earlier = [{k: meta.get(k) for k in STAGE_KEYS}]
        self.stages = earlier

    def load_teachers(self) -> None:
        self.teachers = [load_teacher(Path(p), self.mean, self.std, self.arch_args["num_classes"], self.device)
                         for p in self.cfg.teachers]
        if self.cfg.teacher_views:
            key = {"teachers": [t.sha256 for t in self.teachers], "temperature": self.cfg.distill_temp,
                   "flip": self.cfg.teacher_flip,
                   "data_sha256": self.data.sha256, "mean": self.mean.tolist(), "std": self.std.tolist()}
            self.views = TeacherViews(self.cfg.teacher_views, len(self.train_x),
                                      batch_seed(self.cfg.seed, *VIEWS_STREAM), key, cutout=self.cfg.cutout)

    def prepare_views(self, progress: bool = True) -> bool:
        """Compute the teachers' targets on the fixed views not yet in the views file (each view saved as
        it finishes); False when a signal stopped it before all were done."""
        from tqdm import tqdm

        views = self.views
        why_not = views.load(self.views_path)
        if why_not:
            self.log(f"teacher views: {why_not}")
        elif views.done:
            self.log(f"teacher views: {views.done}/{views.views} from {self.views_path}")
        images = (lambda idx: to_input(self.train_x[idx.numpy()], self.mean, self.std, self.device))
        t0 = time.perf_counter()
        while views.done < views.views:
            if self.stop_requested:
                return False
            with tqdm(total=views.n, disable=not progress, unit="img", dynamic_ncols=True,
                      desc=f"teacher view {views.done + 1}/{views.views}") as bar:
                views.compute_next(self.teachers, images, self.cfg.distill_temp, self.device, bar=bar,
                                   flip=self.cfg.teacher_flip, bf16=self.cfg.bf16)
            views.save(self.views_path)
            self.log(f"teacher views: {views.done}/{views.views} ({(time.perf_counter() - t0) / 60:.1f} min)")
        return True

    # --- resume state (resume.py) -----------------------------------------------------------------
    def save_state(self) -> None:
        atomic_save(resume_state(self), self.state_path)

    def load_state(self) -> None:
        restore(self, torch.load(self.state_path, map_location=self.device, weights_only=True))

    # --- training -----------------------------------------------------------------------------------
    def batch_rng(self, epoch: int, index: int) -> torch.Generator:
        """The augmentation draws' generator of batch (epoch, index); also seeds that batch's dropout draws."""
        seed = batch_seed(self.cfg.seed, epoch, index)
        torch.manual_seed(seed)
        return torch.Generator().manual_seed(seed)

    def augmented(self, epoch: int, index: int, idx: np.ndarray) -> torch.Tensor:
        """Training images idx, augmented with the draws of batch (epoch, index), on the device."""
        x = augment(to_input(self.train_x[idx], self.mean, self.std, self.device),
                    self.batch_rng(epoch, index), cutout=self.cfg.cutout)
        return x.contiguous(memory_format=torch.channels_last)

    def viewed(self, epoch: int, index: int, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """With --teacher-views: training images idx, each as one of its fixed views (chosen with the
        draws of batch (epoch, index)), and the teachers' stored targets on them, on the device."""
        x, target = self.views.batch(to_input(self.train_x[idx], self.mean, self.std, self.device),
                                     torch.from_numpy(idx), self.batch_rng(epoch, index))
        return x.contiguous(memory_format=torch.channels_last), target.to(self.device)

    def train_step(self, epoch: int, index: int, order: torch.Tensor) -> tuple[float, int]:
        cfg, bs = self.cfg, self.cfg.batch_size
        idx = order[index * bs:(index + 1) * bs].numpy()
        if self.views is not None:
            x, target = self.viewed(epoch, index, idx)
        else:
            x = self.augmented(epoch, index, idx)
            target = (teacher_probs(self.teachers, x, cfg.distill_temp, cfg.teacher_flip, cfg.bf16)
                      if self.teachers else None)
        y = torch.from_numpy(self.train_y[idx]).to(self.device)
        for g in self.opt.param_groups:
            g["lr"] = lr_at(epoch * self.steps_per_epoch + index, self.cycle_steps, cfg)
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = self.model(x)
            if target is None:
                loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
            else:
                loss = distill_loss(logits.float(), target, y, cfg.distill_alpha, cfg.distill_temp,
                                    cfg.label_smoothing)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item(), int((logits.detach().argmax(1) == y).sum())

    def run(self, max_steps: int | None = None, progress: bool = True) -> bool:
        """Train until done (True) or until max_steps / a signal stops it (False, resume state saved)."""
        from tqdm import tqdm

        cfg, steps_done, last_save = self.cfg, 0, time.perf_counter()
        if self.views is not None and not self.prepare_views(progress):
            self.save_state()
            return False
        if self.snapshot_dir and self.epoch == 0 and self.step_in_epoch == 0:  # epoch 0: the random start
            save_snapshot(self, self.snapshot_dir, 0, self.test_accuracy(), self.argv)
        while self.epoch < cfg.epochs:
            order = torch.randperm(len(self.train_x), generator=torch.Generator().manual_seed(
                epoch_order_seed(cfg.seed, self.epoch)))
            bar = tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch, disable=not progress,
                       desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="batch", dynamic_ncols=True)
            loss_sum, correct, seen, t0 = 0.0, 0, 0, time.perf_counter()
            t_rate = t0
            while self.step_in_epoch < self.steps_per_epoch:
                if self.stop_requested or (max_steps is not None and steps_done >= max_steps):
                    bar.close()
                    self.wall += time.perf_counter() - t0
                    self.save_state()
                    return False
                loss, ok = self.train_step(self.epoch, self.step_in_epoch, order)
                self.step_in_epoch += 1
                steps_done += 1
                if self.save_every_s and time.perf_counter() - last_save > self.save_every_s:
                    self.wall += time.perf_counter() - t0  # a kill after this loses at most save_every_s
                    t0 = last_save = time.perf_counter()
                    self.save_state()
                loss_sum, correct, seen = loss_sum + loss * cfg.batch_size, correct + ok, seen + cfg.batch_size
                el = time.perf_counter() - t_rate
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                                img_s=f"{seen / max(el, 1e-9):.0f}")
                bar.update(1)
            bar.close()
            self.wall += time.perf_counter() - t0
            test_acc = self.test_accuracy()
            acc_key = "test_acc_bf16" if cfg.bf16 else "test_acc_fp32"  # the per-epoch look, in training's precision
            entry = {"epoch": self.epoch + 1, "train_loss": loss_sum / max(seen, 1),
                     "train_acc": correct / max(seen, 1), acc_key: test_acc, "wall_s": self.wall}
            swa_note = ""
            if self.epoch + 1 > cfg.epochs - cfg.swa:  # an averaged epoch
                self.swa_avg.add(self.model)
                swa_model = self.swa_model(limit=10_000)  # BatchNorm measured on 10k images: a quick look
                entry["swa_models"] = self.swa_avg.count
                entry["swa_" + acc_key] = evaluate_accuracy(
                    swa_model, self.data.test.images, self.data.test.labels, self.mean, self.std, self.device,
                    bf16=cfg.bf16)
                swa_note = f", average of {self.swa_avg.count}: {entry['swa_' + acc_key]:.4f}"
            self.history.append(entry)
            self.log(f"epoch {self.epoch + 1}/{cfg.epochs}: loss {entry['train_loss']:.4f} train acc "
                     f"{entry['train_acc']:.4f} test acc {test_acc:.4f}{swa_note} ({self.wall / 60:.1f} min total)")
            if self.snapshot_dir:
                save_snapshot(self, self.snapshot_dir, self.epoch + 1, test_acc, self.argv)
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            self.save_state()
        return True

    def test_accuracy(self) -> float:
        """The model's accuracy on the test images, in training's precision (the per-epoch look)."""
        return evaluate_accuracy(self.model, self.data.test.images, self.data.test.labels, self.mean, self.std,
                                 self.device, bf16=self.cfg.bf16)

    def bn_order(self, limit: int | None = None) -> np.ndarray:
        """The training images (indices) BatchNorm statistics are measured on, in a fixed random order."""
        n = len(self.train_x)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(batch_seed(self.cfg.seed, *BN_ORDER_STREAM)))
        return perm[:n if limit is None else min(limit, n)].numpy()

    def bn_batches(self, limit: int | None = None):
        """Training batches (augmented as in training, fixed draws) for re-measuring BatchNorm statistics:
        all training images, or `limit` of them drawn at random (a fixed draw: the data may be sorted by
        class, and the first images of one class would give that class's statistics)."""
        bs, order = self.cfg.batch_size, self.bn_order(limit)
        for i, start in enumerate(range(0, len(order), bs)):
            yield self.augmented(BN_EPOCH, i, order[start:start + bs])

    def swa_model(self, limit: int | None = None) -> torch.nn.Module:
        """The averaged weights with BatchNorm statistics measured on `limit` training images (all: None)."""
        model = self.swa_avg.averaged(self.model)
        recompute_bn(model, self.bn_batches(limit), bf16=self.cfg.bf16)
        return model

    def final_checkpoint(self, argv: list[str], interim: bool = False) -> dict:
        """The checkpoint in the viewer's format, test accuracy measured in fp32. interim: a snapshot of a
        run still in progress (epochs = the epochs done so far)."""
        averaged = bool(self.swa_avg.count) and not interim  # the averaged network is the result
        model = self.swa_model() if averaged else self.model
        model.eval()
        cpu_model = model.to("cpu").to(memory_format=torch.contiguous_format)
        acc = evaluate_accuracy(cpu_model, self.data.test.images, self.data.test.labels, self.mean, self.std,
                                torch.device("cpu"), bf16=False)
        meta = run_record(self, argv, acc, averaged, interim)
        return make_checkpoint(cpu_model, self.cfg.arch, self.arch_args, meta)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m viewer.training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = TrainConfig()
    p.add_argument("--data", default=str(DEFAULT_DATA), help="cifar10-jpeg.npz or a cifar-10-batches-py folder")
    p.add_argument("--out", default=None, help="final checkpoint path (default: ARCH_trained.pt in the current "
                   "folder; an existing file is never overwritten without --force)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out or --snapshot file, and start "
                   "a fresh run over an existing resume state (which is then replaced)")
    p.add_argument("--state", default=None, help="resume state path (default: OUT.resume)")
    p.add_argument("--resume", action="store_true", help="continue from the resume state")
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
    same = ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "warmup", "drop_in", "drop_mid",
            "seed", "train_limit", "cutout", "distill_alpha", "distill_temp", "swa", "swa_lr", "arch",
            "teacher_views", "teacher_flip")    # options that are config fields of the same name
    cfg = TrainConfig(**{k: getattr(a, k) for k in same}, bn=not a.no_bn, bf16=precision.bf16,
                      init=str(Path(a.init).resolve()) if a.init else None,
                      teachers=tuple(str(Path(t).resolve()) for t in a.teacher))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
    try:
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
            trainer.load_state()
            print(f"resumed at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch}", flush=True)
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
