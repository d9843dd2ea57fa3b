"""Optimized images on disk: a unit is optimized once per model and settings (featvis.py), then read back.

The key is the model's weights (a sha256 over every parameter and buffer, with the model's class name), the
layer, the channel, the position and the settings (VisSettings.key()): a changed model file, or weights changed
in place, give another key, so a stale image is never shown. Each entry is one .npz (the picture, its activation,
its steps), written to a temporary name and renamed, so a crash leaves no half file; an entry that cannot be
read is deleted and computed again."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from .featvis import VisSettings


def model_key(model: torch.nn.Module, extra: str = "") -> str:
    """sha256 (first 16 hex digits) of the model's class, every tensor of its state_dict and `extra` (what else
    changes the images: the input spec, the precision)."""
    h = hashlib.sha256(type(model).__qualname__.encode() + extra.encode())
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


class VisCache:
    def __init__(self, root: Path, model: str):
        self.dir = Path(root) / "featvis" / model

    def path(self, layer: str, channel: int, position, settings: VisSettings) -> Path:
        where = "mean" if position is None else f"{position[0]}_{position[1]}"
        s = hashlib.sha256(settings.key().encode()).hexdigest()[:12]
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in layer)
        return self.dir / f"{safe}_c{channel}_{where}_{s}.npz"

    def load(self, layer: str, channel: int, position, settings: VisSettings):
        """(picture (h, w, 3) uint8, value, steps, box), or None where there is none (or it was unreadable:
        removed)."""
        p = self.path(layer, channel, position, settings)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                pic, value, steps = z["picture"], float(z["value"]), int(z["steps"])
                box = tuple(int(v) for v in z["box"])
            if pic.dtype != np.uint8 or pic.ndim != 3 or pic.shape[2] != 3:
                raise ValueError("not a picture")
            return pic, value, steps, box
        except Exception:   # noqa: BLE001  a damaged entry: computed again, never a crash in the window
            p.unlink(missing_ok=True)
            return None

    def save(self, layer: str, channel: int, position, settings: VisSettings, picture: np.ndarray, value: float,
             steps: int, box: tuple) -> None:
        p = self.path(layer, channel, position, settings)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(p.name + f".{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.savez(f, picture=picture, value=np.float64(value), steps=np.int64(steps), box=np.array(box, np.int64))
            os.replace(tmp, p)
        except OSError:   # a read-only or full disk: the image is simply not kept
            pass
