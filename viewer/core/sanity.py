"""Sanity checks for saliency maps (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): a cascading
randomized copy of a model, and the similarity measures that compare a map with its counterpart.

Cascading model-parameter randomization: the layers from the top (the output) down to a chosen layer are
re-initialised, each with its own default initialisation (`reset_parameters()` of every module that has one,
so convolutions get PyTorch's Kaiming-uniform and BatchNorm its ones, zeros and fresh running statistics),
from a fixed seed; the layers below keep their trained weights. The user's model is never touched: the copy
is a deep copy.

Similarity (both on maps of the same shape): Spearman's rank correlation (Pearson's correlation of the ranks,
ties given their average rank) of the signed maps and of their absolute values, and SSIM (Wang et al. 2004)
of the two maps reduced to one channel (sum over colour), each scaled to [0, 1] by its own range (a
randomized model's maps have an arbitrary magnitude), with a 7x7 uniform window and the usual constants
(C1 = 0.01^2, C2 = 0.03^2).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .device import model_device
from .graph import LayerInfo


def randomized_from(layers: list[LayerInfo], cut: str) -> list[LayerInfo]:
    """The layers a cascade down to `cut` re-initialises: `cut` and every layer after it."""
    names = [l.name for l in layers]
    if cut not in names:
        raise ValueError(f"unknown layer '{cut}' (layers: {', '.join(names)})")
    return layers[names.index(cut):]


def cascading_randomized(model: nn.Module, layers: list[LayerInfo], cut: str, seed: int = 0) -> nn.Module:
    """A deep copy of `model` (eval mode) with the layers from the top down to `cut` re-initialised, on the
    model's device. The re-initialisation draws on the CPU (the same weights whatever the device), then the
    copy moves to the model's device."""
    device = model_device(model)
    twin = copy.deepcopy(model).eval().cpu()
    for m in twin.modules():     # a plain copy: no hooks that were on the model at this moment
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
        m._backward_hooks.clear()
    modules = dict(twin.named_modules())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in reversed(randomized_from(layers, cut)):     # from the top down, as the cascade goes
            module = modules.get(layer.module_name)
            if module is None:
                continue
            for sub in module.modules():
                if hasattr(sub, "reset_parameters") and any(True for _ in sub.parameters(recurse=False)):
                    sub.reset_parameters()
                if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                    sub.reset_running_stats()
    return twin.to(device)


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a flat array, ties given the average of the ranks they span."""
    x = np.asarray(x, np.float64).ravel()
    order = np.argsort(x, kind="stable")
    sx = x[order]
    first = np.r_[True, sx[1:] != sx[:-1]]              # where a run of equal values starts
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(x)] - 1
    r = np.empty(len(x), np.float64)
    r[order] = ((starts + ends) / 2 + 1)[np.cumsum(first) - 1]
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (flattened); 1.0 for two constant maps, 0.0 if one is."""
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    if den == 0:
        return 1.0 if np.array_equal(np.asarray(a), np.asarray(b)) else 0.0
    return float((ra * rb).sum() / den)


def _box(x: np.ndarray, w: int) -> np.ndarray:
    """Mean over every w x w window of a 2-D map ('valid' windows)."""
    c = np.cumsum(np.cumsum(np.pad(x, ((1, 0), (1, 0))), 0), 1)
    return (c[w:, w:] - c[:-w, w:] - c[w:, :-w] + c[:-w, :-w]) / (w * w)


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """SSIM of two maps ((3, H, W) summed over colour, or (H, W)), each scaled to [0, 1]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim == 3:
        a, b = a.sum(0), b.sum(0)
    def unit_range(m):   # each map by its own range: a randomized model's maps have arbitrary magnitudes
        lo, hi = m.min(), m.max()
        return np.zeros_like(m) if hi == lo else (m - lo) / (hi - lo)
    if np.array_equal(a, b):
        return 1.0
    a, b = unit_range(a), unit_range(b)
    w = min(window, a.shape[0], a.shape[1])
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ma, mb = _box(a, w), _box(b, w)
    va = _box(a * a, w) - ma * ma
    vb = _box(b * b, w) - mb * mb
    cov = _box(a * b, w) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())
