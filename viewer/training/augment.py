"""Training-time augmentation: random translation (reflect-pad + crop), horizontal flip, optional cutout.

The random draws (`draw`) are separate from applying them (`apply`), so a fixed set of draws can be kept
and re-applied later: `--teacher-views` (viewer/training/teacher_views.py) stores the teachers' outputs on fixed
augmented views of each image and rebuilds exactly those views when the student trains on them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Draws:
    """Per-image augmentation parameters of a batch of n images (each a length-n tensor): crop offsets
    dy, dx in [0, 2 * pad] of the padded image, horizontal flip, and the cutout square's top-left corner
    cy, cx (may be negative: the square is clipped at the image's edges; None without cutout)."""
    dy: torch.Tensor
    dx: torch.Tensor
    flip: torch.Tensor
    cy: torch.Tensor | None = None
    cx: torch.Tensor | None = None

    def take(self, index: torch.Tensor) -> "Draws":
        pick = (lambda t: None if t is None else t[index])
        return Draws(pick(self.dy), pick(self.dx), pick(self.flip), pick(self.cy), pick(self.cx))


def draw(n: int, gen: torch.Generator, h: int = 32, w: int = 32, pad: int = 4, cutout: int = 0) -> Draws:
    """The random draws for n images, in a fixed order (dy, dx, flip, then the cutout's): cutout=0 gives
    exactly the batches of runs made before the option existed."""
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    if cutout <= 0:
        return Draws(dy, dx, flip)
    cy = torch.randint(0, h, (n,), generator=gen) - cutout // 2
    cx = torch.randint(0, w, (n,), generator=gen) - cutout // 2
    return Draws(dy, dx, flip, cy, cx)


def apply(x: torch.Tensor, d: Draws, pad: int = 4, cutout: int = 0) -> torch.Tensor:
    """x (n, c, h, w) augmented by the draws d: the h x w window at (dy, dx) of the reflect-padded image,
    flipped left-right where flip, and with cutout > 0 the cutout x cutout square at (cy, cx) set to 0,
    which on normalised input is the mean colour. One gather for the whole batch, on x's device (the
    draws, made on the CPU, are moved there)."""
    n, c, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    ys = d.dy.to(dev).view(n, 1) + torch.arange(h, device=dev).view(1, h)             # (n, h) rows
    cols = torch.arange(w, device=dev).view(1, w)
    cols = torch.where(d.flip.to(dev).view(n, 1), w - 1 - cols, cols)                   # mirrored where flip
    xs = d.dx.to(dev).view(n, 1) + cols                                                  # (n, w) columns
    out = padded[torch.arange(n, device=dev).view(n, 1, 1, 1), torch.arange(c, device=dev).view(1, c, 1, 1),
                 ys.view(n, 1, h, 1), xs.view(n, 1, 1, w)]
    if cutout > 0:
        cy, cx = d.cy.to(dev).view(n, 1, 1), d.cx.to(dev).view(n, 1, 1)
        yy, xx = torch.arange(h, device=dev).view(1, h, 1), torch.arange(w, device=dev).view(1, 1, w)
        hole = (yy >= cy) & (yy < cy + cutout) & (xx >= cx) & (xx < cx + cutout)  # (n, h, w)
        out = out.masked_fill(hole.unsqueeze(1), 0.0)
    return out


def augment(x: torch.Tensor, gen: torch.Generator, pad: int = 4, cutout: int = 0) -> torch.Tensor:
    """Random translation by up to `pad` pixels (reflect padding), random horizontal flip, and with
    cutout > 0 a cutout x cutout square (centre anywhere in the image, clipped at its edges) set to 0."""
    n, _, h, w = x.shape
    return apply(x, draw(n, gen, h, w, pad, cutout), pad, cutout)
