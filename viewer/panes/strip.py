"""The network strip: one block per layer in execution order, the selected one highlighted, and an arc over
the blocks for every skip connection or join (an input that is not the layer just before; across the rows
of a wrapped strip in two pieces), and a thin line before each stage of the network (ResNet's layer1..4),
named where the strip is one row."""
from __future__ import annotations

import pygame

from ..features import active
from ..render import draw
from ..render.layout import inside
from ..render.strip_geometry import skip_arcs, stage_starts
from .base import Pane, PaneView


class StripPane(Pane):
    name = "network strip"
    follows_result = False

    def draw(self, surface, v: PaneView) -> None:
        labels = [(l.name, "x".join(str(s) for s in l.shape), l.kind.value) for l in v.session.layers]
        L = v.layout
        names = [l.name for l in v.session.layers]
        for arc in skip_arcs([l.inputs for l in v.session.layers], names, L.blocks, L.label_bottoms):
            pygame.draw.lines(surface, (200, 120, 120), False, arc, 1)     # skip connections, joins
        wrapped = len(set(L.label_bottoms)) > 1
        for i, stage in stage_starts(names, L.label_bottoms):     # ResNet's layer1..4: a line and the name
            b = L.blocks[i]
            bottom = L.label_bottoms[i] if L.label_bottoms else L.strip[1] + L.strip[3]
            x = b[0] - 4
            if i > 0 and (not L.label_bottoms or L.label_bottoms[i - 1] == bottom):
                x = (L.blocks[i - 1][0] + L.blocks[i - 1][2] + b[0]) // 2
                pygame.draw.line(surface, draw.DIM, (x, b[1] - (3 if wrapped else 10)), (x, bottom - 30), 1)
            if not wrapped:   # a wrapped strip has no room above its blocks (the selected label is the full name)
                w = draw.font(12).size(stage)[0]
                pygame.draw.rect(surface, draw.BG, (x + 2, b[1] - 13, w + 2, 11))   # readable over the arcs
                draw.text(surface, stage, (x + 3, b[1] - 13), 12, draw.TEXT)
        row = L.strip_rows[0] if L.strip_rows else L.strip
        draw.strip(surface, L.blocks, labels, v.session.layer, L.label_bottoms or row[1] + row[3])
        marks: dict[str, str] = {}
        for f in active():                                # e.g. Z: the layers with ablated channels
            for layer, mark in f.block_marks(v.session).items():
                marks[layer] = f"{marks[layer]} {mark}" if layer in marks else mark
        for block, layer in zip(L.blocks, v.session.layers):
            if layer.name in marks:
                draw.text(surface, marks[layer.name], (block[0] + 3, block[1] + 2), 17, draw.WARN)
        if L.strip_rows:
            draw.text(surface, v.model_tag, (row[0] + 8, row[1] + row[3] // 2 - 12), 30, draw.ACCENT)
            if v.session.side.accuracy:   # its measured test accuracy under its letter
                draw.text(surface, f"{v.session.side.accuracy:.0%}", (row[0] + 4, row[1] + row[3] // 2 + 14), 14,
                          draw.DIM)

    def about(self, v: PaneView):
        s = v.layout.strip
        return [((s[0], s[1] + 18, s[2], s[3]), "The network, one block per layer in the order it runs: taller for larger "
                 "maps, wider for more channels, coloured by kind. Click one to open it.")]

    def hover(self, pos, v: PaneView) -> str:
        for i, b in enumerate(v.layout.blocks):
            if inside(b, pos):
                l = v.session.layers[i]
                rf = f", receptive field {int(l.rf.size[0])}x{int(l.rf.size[1])} px" if l.rf else ""
                return f"{l.name}: {l.kind.value}, output {' x '.join(map(str, l.shape))}{rf}; click to open"
        return ""

    def click(self, pos, session, v: PaneView) -> bool:
        """A block: its layer is selected."""
        for i, b in enumerate(v.layout.blocks):
            if inside(b, pos):
                session.select_layer(i)
                return True
        return False
