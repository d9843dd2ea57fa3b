"""Receptive-field geometry, tracked per tensor through one probe forward pass.

Per axis: r (size in input pixels), j (jump: input pixels between neighbouring units) and c0 (input
coordinate of the centre of unit 0). A k-wide window with stride s, padding p and dilation d maps
(r, j, c0) to (r + (k_eff - 1) j, j s, c0 + ((k_eff - 1) / 2 - p) j), k_eff = d (k - 1) + 1
(docs/definitions.md section 3). Element-wise ops keep the geometry; ops that join tensors of the same spatial size
(residual adds, concatenation) take the union of the windows; anything else ends the chain (None).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


@dataclass(frozen=True)
class ReceptiveField:
    size: tuple[float, float]    # (ry, rx) input pixels
    stride: tuple[float, float]  # (jy, jx)
    start: tuple[float, float]   # input coordinate of the centre of unit (0, 0)

    def centre(self, y: int, x: int) -> tuple[float, float]:
        return self.start[0] + y * self.stride[0], self.start[1] + x * self.stride[1]

    def box(self, y: int, x: int, height: int | None = None, width: int | None = None) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), inclusive-exclusive, of the input pixels unit (y, x) sees;
        clipped to a height x width image when given."""
        cy, cx = self.centre(y, x)
        top, left = cy - (self.size[0] - 1) / 2, cx - (self.size[1] - 1) / 2
        t, l, b, r = int(round(top)), int(round(left)), int(round(top + self.size[0])), int(round(left + self.size[1]))
        if height is not None:
            t, b = max(0, t), min(height, b)
        if width is not None:
            l, r = max(0, l), min(width, r)
        return t, l, b, r


IDENTITY = ReceptiveField((1.0, 1.0), (1.0, 1.0), (0.0, 0.0))


def pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1]))
    return (int(v), int(v))


def compose(rf: ReceptiveField, kernel, stride, padding, dilation=1) -> ReceptiveField:
    k, s, p, d = pair(kernel), pair(stride), pair(padding), pair(dilation)
    size, jump, start = [], [], []
    for a in range(2):
        k_eff = d[a] * (k[a] - 1) + 1
        size.append(rf.size[a] + (k_eff - 1) * rf.stride[a])
        start.append(rf.start[a] + ((k_eff - 1) / 2 - p[a]) * rf.stride[a])
        jump.append(rf.stride[a] * s[a])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def union(rfs: list[ReceptiveField]) -> ReceptiveField:
    if len(rfs) == 1:
        return rfs[0]
    size, jump, start = [], [], []
    for a in range(2):
        lo = min(r.start[a] - (r.size[a] - 1) / 2 for r in rfs)
        hi = max(r.start[a] + (r.size[a] - 1) / 2 for r in rfs)
        size.append(hi - lo + 1)
        start.append((lo + hi) / 2)
        jump.append(max(r.stride[a] for r in rfs))
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def arg(args, kwargs, i, name, default=None):
    """Argument i of a torch call, given by position or by name."""
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def conv2d_args(args, kwargs):
    """(weight, stride, padding, dilation, groups) of a conv2d call, pairs of ints; None for a padding
    given as a string other than "valid" ("same" depends on the kernel and is left alone)."""
    padding = arg(args, kwargs, 4, "padding", 0)
    if isinstance(padding, str):
        if padding != "valid":
            return None
        padding = 0
    return (arg(args, kwargs, 1, "weight"), pair(arg(args, kwargs, 3, "stride", 1)), pair(padding),
            pair(arg(args, kwargs, 5, "dilation", 1)), int(arg(args, kwargs, 6, "groups", 1)))


def _window_params(func, args, kwargs):
    """(kernel, stride, padding, dilation) of a conv / pool call; "unknown" for a conv whose arguments cannot
    be read (string padding other than "valid": the chain ends there); None for any other function."""
    if func is torch.conv2d or func is F.conv2d:
        conv = conv2d_args(args, kwargs)
        if conv is None:
            return "unknown"
        w, stride, padding, dilation, _ = conv
        return tuple(w.shape[-2:]), stride, padding, dilation
    if func in (F.max_pool2d, torch.max_pool2d, F.max_pool2d_with_indices):
        k = arg(args, kwargs, 1, "kernel_size", None)
        s = arg(args, kwargs, 2, "stride", None) or k
        return k, s, arg(args, kwargs, 3, "padding", 0), arg(args, kwargs, 4, "dilation", 1)
    if func is F.avg_pool2d:
        k = arg(args, kwargs, 1, "kernel_size", None)
        s = arg(args, kwargs, 2, "stride", None) or k
        return k, s, arg(args, kwargs, 3, "padding", 0), 1
    return None


class GeometryTracker(TorchFunctionMode):
    """While active, records the receptive field of every 4-D tensor produced (keyed by id)."""

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.geom: dict[int, ReceptiveField | None] = {id(x): IDENTITY}
        self._alive = [x]  # keep tensors alive so ids stay unique during the probe

    def lookup(self, t) -> ReceptiveField | None:
        return self.geom.get(id(t)) if isinstance(t, torch.Tensor) else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        first = outs[0] if outs else None
        if not isinstance(first, torch.Tensor) or first.dim() != 4:
            return out
        flat = [a for a in args if isinstance(a, torch.Tensor)]
        flat += [t for a in args if isinstance(a, (list, tuple)) for t in a if isinstance(t, torch.Tensor)]
        inputs = [t for t in flat if t.dim() == 4 and id(t) in self.geom]
        rf = None
        params = _window_params(func, args, kwargs)
        if params is not None and inputs and params != "unknown":
            src = self.geom[id(inputs[0])]
            rf = compose(src, *params) if src is not None else None
        elif params is None and inputs:
            same = [self.geom[id(t)] for t in inputs if t.shape[-2:] == first.shape[-2:]]
            if len(same) == len(inputs) and all(g is not None for g in same):
                rf = union(same)
        for o in outs:
            if isinstance(o, torch.Tensor):
                self.geom[id(o)] = rf
                self._alive.append(o)
        return out
