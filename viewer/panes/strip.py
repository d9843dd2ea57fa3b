"""The network strip: one block per layer in execution order, the selected one highlighted, and an arc over
the blocks for every skip connection or join (an input that is not the layer just before)."""
from __future__ import annotations

from ..render import draw
from .base import Pane, PaneView


class StripPane(Pane):
    name = "network strip"
    follows_result = False

    def draw(self, surface, v: PaneView) -> None:
        labels = [(l.name, "x".join(str(s) for s in l.shape), l.kind.value) for l in v.layers]
        L = v.layout
        import pygame

        from ..render.layout import skip_arcs
        for arc in skip_arcs([l.inputs for l in v.layers], [l.name for l in v.layers], L.blocks, L.label_bottoms):
            pygame.draw.lines(surface, (200, 120, 120), False, arc, 1)     # skip connections, joins
        row = L.strip_rows[0] if L.strip_rows else L.strip
        draw.strip(surface, L.blocks, labels, v.state.layer, L.label_bottoms or row[1] + row[3])
        counts: dict[str, int] = {}
        for layer, _ in v.state.ablated:
            counts[layer] = counts.get(layer, 0) + 1
        for block, layer in zip(L.blocks, v.layers):     # Z: the layers with ablated channels
            if layer.name in counts:
                draw.text(surface, f"Z{counts[layer.name]}", (block[0] + 3, block[1] + 2), 17, draw.WARN)
        if L.strip_rows:
            draw.text(surface, v.model_tag, (row[0] + 8, row[1] + row[3] // 2 - 12), 30, draw.ACCENT)
