"""Distillation from fixed augmented views:  python -m viewer.training.train --teacher A --teacher B --teacher-views V

Online distillation (viewer/training/distill.py) runs every teacher on every training batch, so each teacher adds
its forward pass to every epoch of the student (an All-CNN-C teacher about a third of the student's own
time here). With --teacher-views V the teachers instead see V fixed augmented views of each training image,
once, before the student's first epoch; their averaged soft targets are kept (float16, V x images x
classes: 16 MB for V = 16 on CIFAR-10) in a file beside the resume state. Each student batch then takes,
for every image, one of its V views at random, rebuilt from the stored draws, and that view's targets.
The teachers cost V epochs of forward passes in all, however long the student trains and however many
teachers there are; the price is that the student sees V augmentations of each image, not a fresh one
every epoch. The precomputation is resumable view by view, and a later run with the same teachers, seed,
temperature and augmentation reuses the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..core.checkpoint import atomic_save
from .augment import Draws, apply, draw
from .distill import Teacher, teacher_probs

CACHE_FORMAT = "cnn-viewer-teacher-views"


class TeacherViews:
    """V fixed augmentations of each of n training images (draws from `seed`) and the teachers' averaged
    softened probabilities on each, filled in view by view."""

    def __init__(self, views: int, n: int, seed: int, key: dict, pad: int = 4, cutout: int = 0,
                 size: tuple[int, int] = (32, 32)):
        gen = torch.Generator().manual_seed(seed)
        per_view = [draw(n, gen, size[0], size[1], pad, cutout) for _ in range(views)]
        stack = (lambda name: None if getattr(per_view[0], name) is None
                 else torch.stack([getattr(d, name) for d in per_view]))
        self.draws = Draws(*(stack(f) for f in ("dy", "dx", "flip", "cy", "cx")))  # each (V, n)
        self.views, self.n, self.pad, self.cutout = views, n, pad, cutout
        self.key = {"format": CACHE_FORMAT, "views": views, "images": n, "seed": seed, "pad": pad,
                    "cutout": cutout, **key}
        self.probs: torch.Tensor | None = None  # (V, n, classes) float16, rows [0, done) valid
        self.done = 0

    def load(self, path: Path) -> str:
        """Take the views from `path` if it was made with the same settings. Returns why not ("" when it was
        taken or there is no file): the caller says so and computes the views again."""
        if not path.exists():
            return ""
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # unreadable (truncated, foreign): not ours to trust
            return f"{path} could not be read ({type(e).__name__}); computing the views again"
        if not isinstance(saved, dict) or saved.get("key") != self.key:
            return f"{path} holds views made with other settings; computing them again"
        self.probs, self.done = saved["probs"], int(saved["done"])
        return ""

    def save(self, path: Path) -> None:
        atomic_save({"key": self.key, "done": self.done, "probs": self.probs}, path)

    def compute_next(self, teachers: list[Teacher], images: Callable[[torch.Tensor], torch.Tensor],
                     temperature: float, device: torch.device, batch: int = 500, bar=None,
                     flip: bool = False, bf16: bool = False) -> None:
        """Fill in view number `done`: images(idx) gives the normalised training images idx (n, c, h, w)."""
        v = self.done
        for start in range(0, self.n, batch):
            idx = torch.arange(start, min(start + batch, self.n))
            x = apply(images(idx), self.draws.take((torch.full_like(idx, v), idx)), self.pad, self.cutout)
            p = teacher_probs(teachers, x.to(device).contiguous(memory_format=torch.channels_last), temperature,
                              flip, bf16)
            if self.probs is None:
                self.probs = torch.zeros(self.views, self.n, p.shape[1], dtype=torch.float16)
            self.probs[v, idx] = p.cpu().to(torch.float16)
            if bar is not None:
                bar.update(len(idx))
        self.done = v + 1

    def batch(self, x: torch.Tensor, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised training images x (the images idx): each as one of its views, drawn from gen, and the
        teachers' targets (fp32) on exactly that view."""
        if self.done < self.views:
            raise RuntimeError("teacher views not computed yet")
        v = torch.randint(0, self.views, (len(idx),), generator=gen)
        return apply(x, self.draws.take((v, idx)), self.pad, self.cutout), self.probs[v, idx].float()
