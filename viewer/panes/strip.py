"""The network strip: one block per layer in execution order, the selected one highlighted."""
from __future__ import annotations

from ..render import draw
from .base import Pane, PaneView


class StripPane(Pane):
    name = "network strip"
    follows_result = False

    def draw(self, surface, v: PaneView) -> None:
        labels = [(l.name, "x".join(str(s) for s in l.shape), l.kind.value) for l in v.layers]
        draw.strip(surface, v.layout.blocks, labels, v.state.layer, v.layout.strip[1] + v.layout.strip[3])
