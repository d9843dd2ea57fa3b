"""The grid of the selected layer: every feature map, one tile per channel, drawn as one cached surface per
result; a feature may fill it instead (W: every unit's reconstruction, F: the filters, W with A: each unit's
top patch) or take its place (A: the atlas). A click on a tile selects that channel."""
from __future__ import annotations

import math

import numpy as np
import pygame

from ..features import active
from ..render import draw, images
from ..render.layout import GridGeometry, inside
from .base import Pane, PaneView


def grid_tiles(v: PaneView, geom: GridGeometry) -> tuple[str, np.ndarray | None, str]:
    """(what the grid shows, the tiles of the current page or None, a caption or the reason there are none):
    the last registered feature that fills the grid, else the feature maps."""
    for f in reversed(active()):
        filled = f.grid_tiles(v, geom)
        if filled is not None:
            return filled
    order = channel_order(v)
    maps = v.result.activation[geom.first:geom.first + geom.count] if order is None else \
        v.result.activation[order[geom.first:geom.first + geom.count]]
    scale, s = v.session.scales.act, v.session
    shape = f"{v.layer.channels} x {'x'.join(map(str, v.layer.shape[1:]))}" + \
        (", most relevant first (K)" if order is not None else "")
    if s.per_tile:
        return f"feature maps: {shape}", images.colormap_each(maps, s.colormap), \
            "each tile on its own scale (M): bright = its own maximum; tiles are not comparable"
    tiles = images.colormap(images.shrink(maps, geom.tile), scale.value, s.colormap)
    locked = v.session.scales.locked_on
    if scale.locked and not locked.startswith(v.layer.name + " "):    # a scale made for another layer
        on = locked.split()[0]
        return f"feature maps: {shape}", tiles, (f"scale 0..{scale.value:.3g} locked on {on}: may not fit here (L unlocks)",
                                                 f"locked on {on}: may not fit (L unlocks)")
    lock = " (locked: L)" if scale.locked else ""
    return f"feature maps: {shape}", tiles, (f"colour scale 0..{scale.value:.3g} (the layer's 99th percentile){lock}",
                                             f"scale 0..{scale.value:.3g} (99th percentile){lock}")


def channel_order(v: PaneView) -> list[int] | None:
    """The channels in the order of the tiles where a feature orders them (K: by relevance), else None."""
    for f in reversed(active()):
        order = f.order(v.session, v.layer.name, v.result)
        if order is not None:
            return order
    return None


def channel_at(order: list[int] | None, k: int) -> int:
    """The channel on tile k for a channel_order (None: tile k shows channel k)."""
    return order[k] if order is not None and 0 <= k < len(order) else k


def tile_channel(v: PaneView, k: int) -> int:
    """The channel shown on tile k."""
    return channel_at(channel_order(v), k)


def channel_tile(v: PaneView, c: int) -> int:
    """The tile showing channel c."""
    order = channel_order(v)
    return order.index(c) if order is not None and c in order else c


def taken(session) -> bool:
    """Whether a feature's pane has the grid's place (the atlas)."""
    return any(f.takes_grid(session) for f in active())


class GridPane(Pane):
    name = "feature maps (colormap, tiles)"

    def draw(self, surface, v: PaneView) -> None:
        if taken(v.session):
            return
        L, geom, r, s = v.layout, v.grid, v.result, v.session
        pages = math.ceil(v.layer.channels / max(1, geom.rows * geom.cols))
        page = f"  page {s.page + 1}/{pages} (PgUp/PgDn)" if pages > 1 else ""
        who = f"{v.model_tag} {v.session.model_name}: " if v.model_tag else ""
        if r is None or r.request.layer != v.layer.name:
            draw.caption(surface, L.grid, f"{who}{v.layer.name}{page}")
            draw.placeholder(surface, L.grid, "computing...")
            return
        what, grid_surf, note = self.made("tiles", lambda: self.render(v, geom))
        surface.blit(grid_surf, L.grid[:2])
        for f in active():          # e.g. Z: the channels switched off
            for c, mark in f.tile_marks(s, v.layer.name).items():
                k = channel_tile(v, c)
                if geom.first <= k < geom.first + geom.count:
                    t = geom.tile_rect(k)
                    draw.frame(surface, t, draw.WARN, 1)
                    draw.text(surface, mark, (t[0] + 2, t[1] + 1), 14, draw.WARN)
        k = channel_tile(v, s.channel)
        if geom.first <= k < geom.first + geom.count:
            draw.frame(surface, geom.tile_rect(k), draw.ACCENT, 2)
        draw.caption(surface, L.grid, f"{who}{v.layer.name} {what}{page}")
        last = geom.tile_rect(geom.first + max(0, geom.count - 1))
        if last[1] + last[3] + 20 <= L.grid[1] + L.grid[3]:     # the note under the tiles, where it has room
            draw.text(surface, note, (L.grid[0], last[1] + last[3] + 5), 17, draw.DIM, max_width=L.grid[2])

    def render(self, v: PaneView, geom: GridGeometry):
        """(what, the grid as one surface, its note): made once per result and view change."""
        L = v.layout
        what, tiles, note = grid_tiles(v, geom)
        surf = pygame.Surface(L.grid[2:])
        surf.fill(draw.BG)
        if tiles is not None:
            local = GridGeometry((0, 0, *L.grid[2:]), geom.rows, geom.cols, geom.tile, geom.gap, geom.first,
                                 len(tiles))
            draw.grid(surf, local, tiles)
        else:
            draw.placeholder(surf, (0, 0, *L.grid[2:]), draw.fitting(note, 20, L.grid[2] - 8))
        return what, surf, note

    def note(self) -> str:
        """The note under the tiles as last drawn ("" before; its longest wording): what the grid says about itself."""
        made = self.cache.get("tiles")
        return (made[2] if isinstance(made[2], str) else made[2][0]) if made else ""

    def about(self, v: PaneView):
        return [(v.layout.grid, "Every channel of the selected layer, one tile each: bright where it is active, on one "
                 "colour scale for the layer (its value is under the tiles). W, F and A show other things here. "
                 "Click a tile to explain that channel.")]

    def hover(self, pos, v: PaneView) -> str:
        if taken(v.session) or v.result is None or not inside(v.layout.grid, pos):
            return ""
        k, r = v.grid.hit(pos), v.result
        if k < 0 or r.request.layer != v.layer.name or k >= r.activation.shape[0]:
            return ""
        k = tile_channel(v, k)
        a = r.activation[k]
        y, x = np.unravel_index(int(a.argmax()), a.shape)
        marks = " ".join(m for f in active() if (m := f.tile_marks(v.session, v.layer.name).get(k)))
        return (f"{v.session.unit_name(v.layer, k)}: max {a.max():.3g} at (y={y}, x={x}), mean {a.mean():.3g}"
                + (f" [{marks}]" if marks else "") + "; click to select")

    def click(self, pos, session, v: PaneView) -> bool:
        if taken(session) or not inside(v.layout.grid, pos):
            return False
        k = v.grid.hit(pos)
        if k >= 0:
            page = session.page
            session.select_channel(tile_channel(v, k), v.grid.rows * v.grid.cols, k)
            if channel_order(v) is not None:      # ordered tiles: the page stays where the click was
                session.page = page
        return True
