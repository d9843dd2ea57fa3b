"""The Trainer: one training run's model, optimiser and position, its steps and its epoch loop.

python -m viewer.training.train (train.py) builds one from the command line; the rest of a run lives beside
it, each in its own file: the settings, schedule and seeds (config.py), the resume state (resume.py), the
record written into the checkpoint (record.py), the per-epoch snapshots (snapshots.py), distillation
(distill.py, teacher_views.py), weight averaging (swa.py) and the per-epoch accuracy (accuracy.py).
Every random draw of a batch comes from a seed derived from (seed, epoch, batch), so a run stopped at any
step and resumed is the same run as an uninterrupted one.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..cifar10 import DataError, Dataset
from ..core.checkpoint import atomic_save, make_checkpoint
from ..nets import PAPER_FAMILY, build_model
from .accuracy import evaluate_accuracy, to_input
from .augment import augment
from .config import BN_EPOCH, BN_ORDER_STREAM, VIEWS_STREAM, TrainConfig, batch_seed, epoch_order_seed, lr_at
from .distill import distill_loss, load_teacher, read_finished, teacher_probs
from .record import STAGE_KEYS, run_record
from .resume import OtherPrecision, restore, resume_state
from .snapshots import save_snapshot
from .swa import WeightAverage, recompute_bn
from .teacher_views import TeacherViews


class Trainer:
    """A run in memory: built from its settings and the data (random weights from cfg.seed), then moved on
    by start_from (--init) or load_state (--resume), run() until done or stopped, final_checkpoint()."""

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
        self.precision_changes: list[dict] = []  # resumed in the other precision (resume.py)
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

    def load_state(self, other_precision: OtherPrecision = OtherPrecision.REFUSE) -> dict | None:
        """Continue from the resume state; the change of precision made (resume.py), or None."""
        return restore(self, torch.load(self.state_path, map_location=self.device, weights_only=True),
                       other_precision)

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
            self.end_epoch(loss_sum / max(seen, 1), correct / max(seen, 1))
        return True

    def end_epoch(self, train_loss: float, train_acc: float) -> None:
        """After the epoch's last step: its history entry (test accuracy, the average's with --swa, and any
        change of precision made when the run was resumed during it), its snapshot, then the resume state."""
        cfg = self.cfg
        test_acc = self.test_accuracy()
        acc_key = "test_acc_bf16" if cfg.bf16 else "test_acc_fp32"  # the per-epoch look, in training's precision
        entry = {"epoch": self.epoch + 1, "train_loss": train_loss, "train_acc": train_acc, acc_key: test_acc,
                 "wall_s": self.wall}
        changes = [c for c in self.precision_changes if c["epoch"] == self.epoch + 1]
        if changes:  # this epoch ran partly in another precision: it is not bit-identical to a straight run
            entry["precision_changes"] = changes
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
        self.log(f"epoch {self.epoch + 1}/{cfg.epochs}: loss {train_loss:.4f} train acc {train_acc:.4f} "
                 f"test acc {test_acc:.4f}{swa_note} ({self.wall / 60:.1f} min total)")
        if self.snapshot_dir:
            save_snapshot(self, self.snapshot_dir, self.epoch + 1, test_acc, self.argv)
        self.epoch, self.step_in_epoch = self.epoch + 1, 0
        self.save_state()

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

