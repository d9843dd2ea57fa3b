"""Tiles for the filters view: a layer's weights as images (numpy + torch, no pygame)."""
from __future__ import annotations

import numpy as np
from torch import nn

from .core.graph import LayerInfo
from .render import images


def first_weight(module: nn.Module | None):
    if module is None:
        return None
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            return m.weight.detach().cpu().float().numpy().copy()  # a snapshot, not the parameter's memory
    return None


def filter_tiles(layer: LayerInfo, w: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """(C_out, k, k, 3) uint8 tiles and a caption, or None and why not. w: the layer's first weight
    (first_weight, taken by the pipeline on the worker's side). Colour filters for a layer that reads RGB;
    otherwise, for each output channel, its kernel on the input channel it weighs most (grey = 0)."""
    if w is None or w.ndim != 4:
        return None, f"{layer.name} has no convolution weights to show"
    scale = float(np.abs(w).max()) or 1.0
    if w.shape[1] == 3:
        return np.stack([images.signed_rgb(f, scale) for f in w]), f"RGB filters, grey = 0, |w| max {scale:.3g}"
    strongest = np.abs(w).sum((2, 3)).argmax(1)                         # (C_out,)
    k = w[np.arange(w.shape[0]), strongest]                             # (C_out, kh, kw)
    grey = np.rint(np.clip(0.5 + k / (2 * scale), 0, 1) * 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=3)), \
        "kernel on each unit's strongest input channel, grey = 0"
