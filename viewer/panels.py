"""The panes of the window: turn the App's latest result into pixels (cached until the next result).

Functions of the App (its state, layout, result and caches); drawing calls go through render.draw.
"""
from __future__ import annotations

import math

import numpy as np
import pygame

from .core.attribution import LOGITS
from .core.methods import as_method
from .render import draw, images
from .render.layout import GridGeometry
from .state import Meters, TargetMode
from .worker import Result


def draw_inputs(app, surface) -> None:
    L = app.layout
    draw.caption(surface, L.source, f"source: {app.source.name}")
    if app.frame is not None:
        h, w = app.frame.shape[:2]
        s = min(L.source[2] / w, L.source[3] / h)
        fw, fh = max(1, int(w * s)), max(1, int(h * s))
        rect = (L.source[0] + (L.source[2] - fw) // 2, L.source[1] + (L.source[3] - fh) // 2, fw, fh)
        key = ("source", id(app.frame), rect)
        if app._cache.get("source_key") != key:
            app._cache["source_key"] = key
            app._cache["source"] = pygame.transform.smoothscale(draw.array_surface(app.frame), rect[2:])
        surface.blit(app._cache["source"], rect[:2])
        r = app.result
        if r is not None and not r.failed and r.request.frame.shape == app.frame.shape:  # the crop the model used
            top, left, ch, cw = r.crop
            draw.box(surface, (rect[0] + int(left * s), rect[1] + int(top * s), int(cw * s), int(ch * s)),
                     draw.DIM, 1)
    r = app.result
    draw.caption(surface, L.model_input, "what the model sees")
    if r is None or r.failed:
        draw.placeholder(surface, L.model_input, "waiting for the model...")
        return
    draw.blit_image(surface, r.model_image, L.model_input)
    mh, mw = r.model_image.shape[:2]
    if r.unit is not None and r.unit.layer != LOGITS and r.unit.layer == app.layer.name and app.layer.rf:
        t, l, b, rr = app.layer.rf.box(r.unit.y, r.unit.x, mh, mw)
        sx, sy = L.model_input[2] / mw, L.model_input[3] / mh
        draw.box(surface, (L.model_input[0] + int(l * sx), L.model_input[1] + int(t * sy),
                           max(2, int((rr - l) * sx)), max(2, int((b - t) * sy))))
    top5 = np.argsort(-r.probs)[:5]
    names = [app.classes[i] if i < len(app.classes) else str(i) for i in top5]
    draw.caption(surface, L.predictions, "predictions (top 5)")
    draw.predictions(surface, L.predictions, [(n, float(r.probs[i])) for n, i in zip(names, top5)],
                     0 if app.state.target_mode is TargetMode.CLASS else -1)


def grid_tiles(app, geom: GridGeometry) -> tuple[np.ndarray | None, str]:
    """The tiles of the current page and a caption; no tiles (None) and the reason while there are none."""
    r = app.result
    if app.state.filters:
        from .filters import filter_tiles
        if not r.request.weights:
            return None, "reading the weights..."
        tiles, note = filter_tiles(app.layer, r.weights)
        return (None if tiles is None else tiles[geom.first:geom.first + geom.count]), note
    if app.state.whole_layer:
        if r.layer_recons is None or r.request.layer_units != (geom.first, geom.count):
            return None, "reconstructing every unit..."
        tiles = np.stack([images.signed_rgb(g, images.robust_scale(g)) for g in r.layer_recons])
        if as_method(r.request.method).zero_when_inactive:
            tiles[r.layer_inactive] //= 3  # dark: the unit is inactive in this frame (its image is 0)
        return tiles, f"{as_method(r.request.method).label} of each channel's strongest unit; dark: inactive"
    act = r.activation
    maps = act[geom.first:geom.first + geom.count]
    tiles = images.colormap(maps, app.act_scale.value, app.state.colormap)
    lock = " (locked)" if app.act_scale.locked else ""
    return tiles, f"scale 0..{app.act_scale.value:.3g}{lock}"



def draw_grid(app, surface) -> None:
    L, geom, r = app.layout, app.grid_geom(), app.result
    pages = math.ceil(app.layer.channels / max(1, geom.rows * geom.cols))
    page = f"  page {app.state.page + 1}/{pages} (PgUp/PgDn)" if pages > 1 else ""
    what = "filters" if app.state.filters else "reconstructions" if app.state.whole_layer else "feature maps"
    title = f"{app.layer.name} {what}: {app.layer.channels} x {'x'.join(map(str, app.layer.shape[1:]))}{page}"
    if r is None or r.request.layer != app.layer.name:
        draw.caption(surface, L.grid, title)
        draw.placeholder(surface, L.grid, "computing...")
        return
    cached = app._cache.get("grid")
    if cached is None:
        tiles, note = grid_tiles(app, geom)
        grid_surf = pygame.Surface(L.grid[2:])
        grid_surf.fill(draw.BG)
        if tiles is not None:
            local = GridGeometry((0, 0, *L.grid[2:]), geom.rows, geom.cols, geom.tile, geom.gap, geom.first,
                                 len(tiles))
            draw.grid(grid_surf, local, tiles)
        else:
            draw.placeholder(grid_surf, (0, 0, *L.grid[2:]), note)
        cached = app._cache["grid"] = (grid_surf, note)
    grid_surf, note = cached
    surface.blit(grid_surf, L.grid[:2])
    if geom.first <= app.state.channel < geom.first + geom.count:
        draw.frame(surface, geom.tile_rect(app.state.channel), draw.ACCENT, 2)
    draw.caption(surface, L.grid, title)
    last = geom.tile_rect(geom.first + max(0, geom.count - 1))
    if last[1] + last[3] + 20 <= L.grid[1] + L.grid[3]:     # the note under the tiles, where it has room
        draw.text(surface, note, (L.grid[0], last[1] + last[3] + 5), 17, draw.DIM, max_width=L.grid[2])


def unit_images(app, r: Result) -> dict:
    cached = app._cache.get("unit")
    if cached is not None:
        return cached
    out: dict = {}
    c = min(app.state.channel, r.activation.shape[0] - 1)
    amap = r.activation[c]
    out["map"] = images.colormap(amap, app.act_scale.value, app.state.colormap)
    mh, mw = r.model_image.shape[:2]
    ys = np.minimum((np.arange(mh) * amap.shape[0]) // mh, amap.shape[0] - 1)
    xs = np.minimum((np.arange(mw) * amap.shape[1]) // mw, amap.shape[1] - 1)
    up = images.colormap(amap[ys][:, xs], app.act_scale.value, "viridis")
    out["overlay"] = (0.45 * r.model_image + 0.55 * up).astype(np.uint8)
    if r.recon is not None:
        out["recon"] = images.signed_rgb(r.recon, app.recon_scale.value)
        out["heat"] = images.heat(r.recon, app.recon_scale.value)  # the same smoothed scale: no flicker
    if r.cam is not None:
        camc = images.colormap(r.cam, 1.0, "viridis")
        out["cam"] = (0.5 * r.model_image + 0.5 * camc).astype(np.uint8)
        out["gcam"] = images.signed_rgb(r.guided_cam, images.robust_scale(r.guided_cam))
    app._cache["unit"] = out
    return out


def draw_unit(app, surface) -> None:
    L, r, s = app.layout, app.result, app.state
    if r is None or r.request.layer != app.layer.name:
        for rect in (L.unit_map, L.overlay, L.recon, L.recon_heat):
            draw.placeholder(surface, rect, "computing...")
        return
    imgs = unit_images(app, r)
    c = min(s.channel, r.activation.shape[0] - 1)
    draw.caption(surface, L.unit_map, f"channel {c} activation")
    draw.blit_image(surface, imgs["map"], L.unit_map)
    draw.caption(surface, L.overlay, "overlay on the model input")
    draw.blit_image(surface, imgs["overlay"], L.overlay)
    u = r.unit
    if u is not None and u.layer == app.layer.name and r.activation.shape[1] > 1:
        h, w = r.activation.shape[1:]
        cx = L.unit_map[0] + int((u.x + 0.5) * L.unit_map[2] / w)
        cy = L.unit_map[1] + int((u.y + 0.5) * L.unit_map[3] / h)
        draw.marker(surface, (cx, cy), max(4, L.unit_map[2] // (2 * w)))
    if s.gradcam and "cam" in imgs:
        cls = app.classes[r.cam_class] if r.cam_class < len(app.classes) else str(r.cam_class)
        draw.caption(surface, L.recon, f"Grad-CAM: {cls}")
        draw.blit_image(surface, imgs["cam"], L.recon)
        draw.caption(surface, L.recon_heat, "guided Grad-CAM")
        draw.blit_image(surface, imgs["gcam"], L.recon_heat)
    elif r.error:
        draw.placeholder(surface, L.recon, r.error[:60], draw.WARN)
        draw.placeholder(surface, L.recon_heat, "", draw.WARN)
        unit_text(app, surface, [r.error], draw.WARN)
        return
    elif "recon" in imgs:
        label = as_method(r.request.method).label
        draw.caption(surface, L.recon, f"{label}, grey = 0")
        if r.inactive and as_method(r.request.method).zero_when_inactive:
            draw.placeholder(surface, L.recon, "unit inactive (activation 0)", draw.WARN)
            draw.placeholder(surface, L.recon_heat, "nothing drives it here", draw.WARN)
        else:
            draw.blit_image(surface, imgs["recon"], L.recon)
            draw.caption(surface, L.recon_heat, f"|{label}| heat map")
            draw.blit_image(surface, imgs["heat"], L.recon_heat)
    if u is not None:
        where = (f"class '{app.classes[u.channel] if u.channel < len(app.classes) else u.channel}' logit"
                 if u.layer == LOGITS else f"{u.layer} channel {u.channel} at (y={u.y}, x={u.x})")
        lock = " (locked: L)" if app.recon_scale.locked else ""
        lines = [f"target: {where}", f"{s.target_mode.value}, value {r.value:.4g}",
                 f"{s.method.label}, scale {app.recon_scale.value:.2g}{lock}",
                 f"receptive field {int(app.layer.rf.size[0])}x{int(app.layer.rf.size[1])} px"
                 if app.layer.rf else "receptive field: whole input"]
        if s.gradcam and "cam" in imgs:
            lines.append(f"Grad-CAM at {app.layer.name}")
        if u.layer != LOGITS and r.activation.shape[1] > 1:
            lines.append("click the map to pick a position")
        unit_text(app, surface, lines, draw.TEXT)


def unit_text(app, surface, lines, colour) -> None:
    x, y, w, h = app.layout.unit_text
    for i, line in enumerate(lines):
        if 20 * i + 18 > h:
            break
        draw.text(surface, line, (x, y + 20 * i), 19, colour, max_width=w)


def draw_status(app, surface, now: float) -> None:
    x, y, w, h = app.layout.status
    pygame.draw.rect(surface, draw.PANEL, (x, y, w, h))
    r = app.result
    if r is None:
        age = "result -"
    elif r.request.frame is app.frame:
        age = "result up to date"
    else:
        age = f"result age {(now - r.request.t_submit) * 1000:.0f} ms"
    msg = app.message or app.source.message
    parts = [f"source {app.source.name}", f"model {app.model_name}", f"device {app.device}",
             f"draw {Meters.rate(app.meters.draw_times):.0f} fps",
             f"model {Meters.rate(app.meters.model_times):.1f} fps", age,
             app.state.method.label, "PAUSED" if app.state.paused else "", f"saves -> {app.save_dir}",
             "H: help"]
    line = "   ".join(p for p in parts if p)
    if msg:
        line = f"{msg}   |   {line}"
    draw.text(surface, line, (x + 8, y + 5), 18, draw.WARN if msg else draw.DIM, max_width=w - 16)

