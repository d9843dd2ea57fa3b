"""The compared model (--compare): its strip row with lines to the paired layers, the paired layer's
feature maps, the same unit's activation map and reconstruction, and its predictions, all from its result
on the same frame as the front model's."""
from __future__ import annotations

import numpy as np
import pygame

from dataclasses import dataclass

from ..core.graph import LayerInfo
from ..core.methods import as_method
from ..render import draw, images
from ..render.layout import grid_geometry, inside
from ..requests import Result
from .base import Pane, PaneView


@dataclass(frozen=True)
class CompareView:
    """The compared model as this pane sees it: the one not in front."""
    tag: str                     # A (--model) or B (--compare)
    name: str
    classes: list[str]
    layers: list[LayerInfo]
    layer: LayerInfo | None      # the layer paired with the selected one (None: unpaired)
    pairing: dict                # front layer name -> this model's layer name, or None
    result: Result | None        # its result on the same frame as the front model's
    act_scale: object            # its display scales (render/images.SmoothScale)
    recon_scale: object


def compare_view(v: PaneView) -> CompareView | None:
    s, other = v.session, v.session.other
    if other is None:
        return None
    return CompareView(other.tag, other.name, other.classes, other.layers, s.other_layer(), s.pairing,
                       v.result.part("compare") if v.result is not None else None, s.scales.other_act,
                       s.scales.other_recon)


def _strip(surface, v: PaneView, c: CompareView) -> None:
    L = v.layout
    index = {l.name: i for i, l in enumerate(c.layers)}
    for k, layer in enumerate(v.session.layers):   # a line from each front block to its counterpart
        partner = c.pairing.get(layer.name)
        if partner is None or partner not in index:
            continue
        a, b = L.blocks[k], L.other_blocks[index[partner]]
        colour = draw.ACCENT if k == v.session.layer else (70, 74, 82)
        top = L.strip_rows[0][1] + L.strip_rows[0][3]   # under the front row's labels
        pygame.draw.line(surface, colour, (a[0] + a[2] // 2, top), (b[0] + b[2] // 2, b[1] - 4),
                         2 if k == v.session.layer else 1)
    labels = [(l.name, "x".join(str(s) for s in l.shape), l.kind.value) for l in c.layers]
    selected = index.get(c.layer.name, -1) if c.layer is not None else -1
    row = L.strip_rows[1]
    draw.strip(surface, L.other_blocks, labels, selected, row[1] + row[3])
    draw.text(surface, c.tag, (row[0] + 8, row[1] + row[3] // 2 - 12), 30, draw.ACCENT)
    if v.session.other.accuracy:      # its measured test accuracy under its letter
        draw.text(surface, f"{v.session.other.accuracy:.0%}", (row[0] + 4, row[1] + row[3] // 2 + 14), 14, draw.DIM)
    paired = {p for p in c.pairing.values() if p is not None}
    shade = pygame.Surface((1, 1), pygame.SRCALPHA)
    shade.fill((24, 26, 30, 150))
    for i, l in enumerate(c.layers):       # unpaired layers of the other model: dimmed
        if l.name not in paired:
            r = L.other_blocks[i]
            surface.blit(pygame.transform.scale(shade, r[2:]), r[:2])


def _grid(surface, v: PaneView, c: CompareView, r: Result, made) -> None:
    L = v.layout
    if c.layer is None:
        draw.caption(surface, L.other_grid, f"{c.tag} {c.name}: no layer paired with {v.layer.name}")
        draw.placeholder(surface, L.other_grid, f"{v.layer.name} has no counterpart in {c.name}")
        return
    title = f"{c.tag} {c.name}: {c.layer.name} feature maps: {c.layer.channels} x {'x'.join(map(str, c.layer.shape[1:]))}"
    geom = grid_geometry(L.other_grid, c.layer.channels, 0)
    if geom.count < c.layer.channels:
        title += f" (first {geom.count})"
    draw.caption(surface, L.other_grid, title)
    if r.request.layer != c.layer.name or r.activation.ndim != 3:
        draw.placeholder(surface, L.other_grid, "computing...")
        return
    maps = r.activation[geom.first:geom.first + geom.count]
    mosaic = made(("grid", geom, c.act_scale.value, v.session.colormap), lambda: draw.array_surface(images.mosaic(
        images.colormap(images.shrink(maps, geom.tile), c.act_scale.value, v.session.colormap), geom.cols, geom.tile,
        geom.gap, draw.BG)))
    surface.blit(mosaic, geom.tile_rect(geom.first)[:2])
    if r.unit is not None and r.unit.layer == c.layer.name and geom.first <= r.unit.channel < geom.first + geom.count:
        draw.frame(surface, geom.tile_rect(r.unit.channel), draw.ACCENT, 2)


def _unit(surface, v: PaneView, c: CompareView, r: Result, made) -> None:
    L = v.layout
    if c.layer is None or r.request.layer != c.layer.name or r.unit is None or r.activation.ndim != 3:
        what = "unpaired layer" if c.layer is None else "no unit of this target"
        draw.placeholder(surface, L.other_map, what)
        draw.placeholder(surface, L.other_recon, what)
        return
    u = r.unit
    if u.layer == c.layer.name:
        ch = min(u.channel, r.activation.shape[0] - 1)
        draw.caption(surface, L.other_map, f"{c.tag}: {c.layer.name} channel {ch}")
        surface.blit(made(("map", ch, c.act_scale.value, v.session.colormap, L.other_map), lambda: draw.scaled_surface(
            images.colormap(r.activation[ch], c.act_scale.value, v.session.colormap), L.other_map[2:])), L.other_map[:2])
        h, w = r.activation.shape[1:]
        if h > 1 or w > 1:
            cx = L.other_map[0] + int((u.x + 0.5) * L.other_map[2] / w)
            cy = L.other_map[1] + int((u.y + 0.5) * L.other_map[3] / h)
            draw.marker(surface, (cx, cy), max(4, L.other_map[2] // (2 * w)))
    else:
        draw.placeholder(surface, L.other_map, "class target")
    method = as_method(r.request.method)
    if r.error:
        draw.placeholder(surface, L.other_recon, r.error[:60], draw.WARN)
    elif r.recon is not None:
        recon, zoom = r.recon, v.zoom and u.layer == c.layer.name and c.layer.rf is not None
        if zoom:                # V: its receptive field enlarged, as the unit panel shows the front model's
            recon = images.cut_box(recon, c.layer.rf.box(u.y, u.x))[0]
        if method.relevance:    # LRP: summed over colours, red for, blue against, at its own scale
            reached = 100 * float(r.recon.sum()) / r.value if r.value else 0.0
            draw.caption(surface, L.other_recon, (f"{c.tag}: {method.label}, {reached:.0f}% reach the pixels",
                                                  f"{c.tag}: {method.label}"))
            image = lambda: images.relevance_image(recon)[0]  # noqa: E731
        else:
            draw.caption(surface, L.other_recon, (f"{c.tag}: {method.label}, grey = 0", f"{c.tag}: {method.label}"))
            image = lambda: images.signed_rgb(recon, c.recon_scale.value)  # noqa: E731
        if r.inactive and method.zero_when_inactive:
            draw.placeholder(surface, L.other_recon, "unit inactive (activation 0)", draw.WARN)
        else:
            surface.blit(made(("recon", method.value, c.recon_scale.value, L.other_recon, zoom), lambda: draw.scaled_surface(
                image(), L.other_recon[2:])), L.other_recon[:2])


def _predictions(surface, v: PaneView, c: CompareView, r: Result) -> None:
    L = v.layout
    acc = v.session.other.accuracy
    lag = ", same frame"   # computed inside the front model's step, on its frame
    draw.caption(surface, L.other_predictions,
                 f"{c.tag} {c.name}" + (f" ({acc:.1%} on test)" if acc else "") + f": top 5{lag}")
    top5 = np.argsort(-r.probs)[:5]
    names = [c.classes[i] if i < len(c.classes) else str(i) for i in top5]
    draw.predictions(surface, L.other_predictions, [(n, float(r.probs[i])) for n, i in zip(names, top5)])


class ComparePane(Pane):
    name = "compared model"
    follows_result = False   # its images are cached per result of the compared model (Pane.made)

    def draw(self, surface, v: PaneView) -> None:
        c = compare_view(v)
        if c is None or not v.layout.compare:
            return
        _strip(surface, v, c)
        r = c.result
        if r is None or r.failed:
            msg = f"model error: {r.error}" if r is not None else "computing..."
            for rect in (v.layout.other_grid, v.layout.other_map, v.layout.other_recon, v.layout.other_predictions):
                draw.placeholder(surface, rect, msg[:70], draw.WARN if r is not None else draw.DIM)
            return
        if self.cache.get("result") is not r:     # a new result of the compared model: make its images anew
            self.cache.clear()
            self.cache["result"] = r
        _grid(surface, v, c, r, self.made)
        _unit(surface, v, c, r, self.made)
        _predictions(surface, v, c, r)

    def about(self, v: PaneView):
        L = v.layout
        if not L.compare:
            return []
        return [(L.other_grid, "The compared model's layer paired with the selected one (by position: a max-pool "
                 "with the strided convolution that replaced it), on the same frame."),
                (L.other_map, "The same channel of the compared model's paired layer; the circle marks its unit."),
                (L.other_recon, "That unit's reconstruction by the same method: the two models side by side."),
                (L.other_predictions, "The compared model's five most likely classes for the same frame.")]

    def click(self, pos, session, v: PaneView) -> bool:
        """A block of the compared model's strip row: the front model's layer paired with it is selected."""
        other = session.other
        if other is None:
            return False
        for i, b in enumerate(v.layout.other_blocks):
            if inside(b, pos):
                name = other.layers[i].name
                mine = [k for k, l in enumerate(session.layers) if session.pairing.get(l.name) == name]
                if mine:
                    session.select_layer(mine[0])
                else:
                    session.notify(f"{other.name} {name} has no counterpart in {session.model_name} (Tab: swap)")
                return True
        return False
