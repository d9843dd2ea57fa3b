"""The live atlas: the top K frames of each channel collected online from the running source (numpy only).

Every result the window accepts adds its frame once per layer it shows (one entry per frame and channel, at
the channel's strongest position in that frame, ties to the earlier frame: scan.TopK, the rule of the atlas
file). Frames are numbered in the order the window took them (its frame counter, 1, 2, ...); the model input
image of each frame that still holds an entry is kept so that its patches can be cut and the frame reopened.
"""
from __future__ import annotations

import numpy as np

from .scan import TopK


class LiveAtlas:
    def __init__(self, k: int = 9):
        self.k = k
        self.tops: dict[str, TopK] = {}
        self.last: dict[str, int] = {}            # the last frame number added per layer
        self.views: dict[int, np.ndarray] = {}    # frame number -> the model input image (H, W, 3)
        self.counts: dict[str, int] = {}          # frames added per layer since the reset

    def reset(self) -> None:
        self.tops.clear()
        self.last.clear()
        self.views.clear()
        self.counts.clear()

    def update(self, layer: str, activation: np.ndarray, frame_no: int, view: np.ndarray) -> bool:
        """Add one frame's (C, H, W) activation of a layer; False (nothing done) for a frame already added."""
        if activation.ndim != 3 or frame_no <= self.last.get(layer, 0):
            return False
        top = self.tops.setdefault(layer, TopK(activation.shape[0], self.k))
        self.last[layer] = frame_no
        self.counts[layer] = self.counts.get(layer, 0) + 1
        top.update(activation[None].astype(np.float32, copy=False), np.array([frame_no]))
        self.views[frame_no] = view
        if len(self.views) > 2 * self.k:          # drop the images no entry refers to any more
            used = set()
            for t in self.tops.values():
                used.update(t.images.ravel().tolist())
            for f in [f for f in self.views if f not in used]:
                del self.views[f]
        return True

    def entries(self, layer: str, channel: int) -> list[tuple[float, int, int, int]]:
        """(value, frame number, y, x) of the channel's top entries, best first."""
        t = self.tops.get(layer)
        if t is None or channel >= t.values.shape[0]:
            return []
        return [(float(v), int(f), int(y), int(x)) for v, f, y, x in
                zip(t.values[channel], t.images[channel], t.ys[channel], t.xs[channel])]
