"""K's bars over the grid: each visible tile's share of the class's relevance (viewer/features/concepts.py)."""
from __future__ import annotations

import numpy as np

from .base import Pane
from .grid import channel_at, channel_order, taken


class ConceptBars(Pane):
    """Each visible tile's R_c as a bar along its top edge (drawn over the grid)."""

    name, follows_result = "concept bars", False

    def __init__(self, feature):
        super().__init__()
        self.feature = feature

    def draw(self, surface, v) -> None:
        part = self.feature.current(v, v.result)
        if part is None or part.error or not len(part.channels) or not self.feature.level(v.session):
            return
        if taken(v.session):
            return
        peak = float(np.abs(part.channels).max()) or 1.0
        geom, order = v.grid, channel_order(v)     # once per draw, not once per tile
        for k in range(geom.first, geom.first + geom.count):
            c = channel_at(order, k)
            if c >= len(part.channels):
                continue
            x, y, w, h = geom.tile_rect(k)
            val = part.channels[c]
            length = max(1, int(round(w * abs(val) / peak))) if val else 0
            if length:
                colour = (230, 60, 50) if val > 0 else (70, 110, 235)
                surface.fill(colour, (x, y, length, max(3, h // 8)))
