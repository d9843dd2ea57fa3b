"""The grid of the selected layer: every feature map, or every unit's reconstruction (W), or its filters
(F), one tile per channel, drawn as one cached surface per result."""
from __future__ import annotations

import math

import numpy as np
import pygame

from ..core.methods import as_method
from ..render import draw, images
from ..render.layout import GridGeometry
from .base import Pane, PaneView


def grid_tiles(v: PaneView, geom: GridGeometry) -> tuple[np.ndarray | None, str]:
    """The tiles of the current page and a caption; no tiles (None) and the reason while there are none."""
    r = v.result
    if v.state.filters:
        from ..filters import filter_tiles
        if not r.request.weights:
            return None, "reading the weights..."
        tiles, note = filter_tiles(v.layer, r.weights)
        return (None if tiles is None else tiles[geom.first:geom.first + geom.count]), note
    if v.state.whole_layer and v.state.atlas_view and v.atlas is not None and v.layer.name in v.atlas.layers:
        la = v.atlas.layers[v.layer.name]
        tiles = np.stack([images.padded(la.patches[c, 0], la.valid[c, 0])
                          for c in range(geom.first, geom.first + geom.count)])
        return tiles, "each unit's top patch from the atlas (A: live reconstructions again)"
    if v.state.whole_layer:
        if len(v.layer.shape) != 3:
            return None, "no spatial map: W is for convolution layers"
        if r.layer_recons is None and r.error and r.request.layer_units is not None:
            return None, "no reconstructions: the unit panel says why"   # e.g. no ReLU for guided backprop
        if r.layer_recons is None or r.request.layer_units != (geom.first, geom.count):
            return None, "reconstructing every unit..."
        recons = r.layer_recons
        if v.zoom and r.layer_positions is not None and v.layer.rf is not None:   # each unit's own box
            recons = [images.cut_box(g, v.layer.rf.box(int(y), int(x)))[0] for g, (y, x) in zip(recons, r.layer_positions)]
        tiles = np.stack([images.signed_rgb(g, images.robust_scale(g)) for g in recons])
        if as_method(r.request.method).zero_when_inactive:
            tiles[r.layer_inactive] //= 3  # dark: the unit is inactive in this frame (its image is 0)
        return tiles, f"{as_method(r.request.method).label} of each channel's strongest unit; dark: inactive"
    act = r.activation
    maps = act[geom.first:geom.first + geom.count]
    tiles = images.colormap(maps, v.act_scale.value, v.state.colormap)
    lock = " (locked)" if v.act_scale.locked else ""
    return tiles, f"scale 0..{v.act_scale.value:.3g}{lock}"


class GridPane(Pane):
    name = "feature maps (colormap, tiles)"

    def draw(self, surface, v: PaneView) -> None:
        if v.state.atlas_view and not (v.state.whole_layer or v.state.filters):
            return                                   # the atlas pane has the grid's place
        L, geom, r = v.layout, v.grid, v.result
        pages = math.ceil(v.layer.channels / max(1, geom.rows * geom.cols))
        page = f"  page {v.state.page + 1}/{pages} (PgUp/PgDn)" if pages > 1 else ""
        what = ("filters" if v.state.filters else "top patches" if v.state.whole_layer and v.state.atlas_view
                else "reconstructions" if v.state.whole_layer else "feature maps")
        who = f"{v.model_tag} {v.model_name}: " if v.compare is not None else ""
        title = f"{who}{v.layer.name} {what}: {v.layer.channels} x {'x'.join(map(str, v.layer.shape[1:]))}{page}"
        if r is None or r.request.layer != v.layer.name:
            draw.caption(surface, L.grid, title)
            draw.placeholder(surface, L.grid, "computing...")
            return
        cached = self.cache.get("grid")
        if cached is None:
            tiles, note = grid_tiles(v, geom)
            grid_surf = pygame.Surface(L.grid[2:])
            grid_surf.fill(draw.BG)
            if tiles is not None:
                local = GridGeometry((0, 0, *L.grid[2:]), geom.rows, geom.cols, geom.tile, geom.gap, geom.first,
                                     len(tiles))
                draw.grid(grid_surf, local, tiles)
            else:
                draw.placeholder(grid_surf, (0, 0, *L.grid[2:]), note)
            cached = self.cache["grid"] = (grid_surf, note)
        grid_surf, note = cached
        surface.blit(grid_surf, L.grid[:2])
        if geom.first <= v.state.channel < geom.first + geom.count:
            draw.frame(surface, geom.tile_rect(v.state.channel), draw.ACCENT, 2)
        draw.caption(surface, L.grid, title)
        last = geom.tile_rect(geom.first + max(0, geom.count - 1))
        if last[1] + last[3] + 20 <= L.grid[1] + L.grid[3]:     # the note under the tiles, where it has room
            draw.text(surface, note, (L.grid[0], last[1] + last[3] + 5), 17, draw.DIM, max_width=L.grid[2])
