"""The window: owns the event loop and a small ViewState; handle_event(), update(), draw(), run().

Everything heavy happens in the Worker thread; this module only turns results into pixels, and caches
those pixels so that the window keeps drawing at display rate when the model is slow.
"""
from __future__ import annotations

import enum
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pygame

from .core.attribution import LOGITS, ChannelTarget, ClassTarget, UnitTarget
from .core.graph import LayerInfo
from .core.preprocess import centre_crop_box
from .core.rules import Method
from .keys import BINDINGS, Action, help_lines
from .render import draw, images
from .render.layout import GridGeometry, Pane, compute_layout, grid_geometry
from .sources import Source
from .worker import Request, Result, Worker

METHODS = (Method.GUIDED, Method.DECONVNET, Method.GRADIENT)


class TargetMode(enum.Enum):
    STRONGEST = "strongest position"
    POSITION = "clicked position"
    CLASS = "top class logit"


@dataclass
class ViewState:
    layer: int = 0
    channel: int = 0
    position: tuple[int, int] | None = None
    target_mode: TargetMode = TargetMode.STRONGEST
    method: Method = Method.GUIDED
    gradcam: bool = False
    paused: bool = False
    help: bool = False
    filters: bool = False
    whole_layer: bool = False
    colormap: str = "viridis"
    page: int = 0
    running: bool = True


@dataclass
class Meters:
    """Drawing rate, model rate and the age of the shown result."""
    draw_times: list[float] = field(default_factory=list)
    model_times: list[float] = field(default_factory=list)

    @staticmethod
    def rate(times: list[float]) -> float:
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / max(1e-9, times[-1] - times[0])

    def tick(self, times: list[float], now: float) -> None:
        times.append(now)
        while times and now - times[0] > 2.0:
            times.pop(0)


class App:
    def __init__(self, screen: pygame.Surface, source: Source, worker: Worker, layers: list[LayerInfo],
                 classes: list[str], model_name: str, device: str = "cpu", save_dir: Path = Path("screenshots"),
                 sync: bool = False, start_layer: str | None = None, method: Method = Method.GUIDED):
        self.screen, self.source, self.worker, self.layers = screen, source, worker, layers
        draw.font.cache_clear()  # fonts from an earlier pygame session are dead
        self.classes, self.model_name, self.device, self.save_dir, self.sync = classes, model_name, device, save_dir, sync
        names = [l.name for l in layers]
        default = next((i for i, l in enumerate(layers) if l.name == "conv6"), max(0, len(layers) // 2))
        self.state = ViewState(layer=names.index(start_layer) if start_layer in names else default, method=method)
        self.keymap = {(pygame.key.key_code(k), b.shift): b.action for b in BINDINGS for k in b.keys}
        self.frame: np.ndarray | None = None
        self.frame_index = 0
        self.message = ""
        self.result: Result | None = None
        self._last_submit: tuple | None = None
        self._last_frame_obj = None
        self._seq = 0
        self._cache: dict[str, object] = {}
        self.act_scale = images.SmoothScale()
        self.recon_scale = images.SmoothScale()
        self.meters = Meters()
        self._save_requested = False
        self.saved: list[Path] = []
        self.frames_drawn = 0
        self.relayout(screen.get_size())

    # --- geometry -----------------------------------------------------------------------------------
    @property
    def layer(self) -> LayerInfo:
        return self.layers[self.state.layer]

    def relayout(self, size: tuple[int, int]) -> None:
        self.layout = compute_layout(size, [l.shape for l in self.layers])
        self._cache.clear()

    def grid_geom(self) -> GridGeometry:
        return grid_geometry(self.layout.grid, self.layer.channels, self.state.page)

    # --- events -------------------------------------------------------------------------------------
    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.QUIT:
            self.state.running = False
        elif ev.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
            self.screen = pygame.display.get_surface() or self.screen
            self.relayout(self.screen.get_size())
        elif ev.type == pygame.KEYDOWN:
            shift = bool(ev.mod & pygame.KMOD_SHIFT)
            action = self.keymap.get((ev.key, shift)) or self.keymap.get((ev.key, False))
            if action is not None:
                self.do(action)
        elif ev.type == pygame.MOUSEBUTTONDOWN and ev.button == 1:
            self.click(ev.pos)

    def click(self, pos: tuple[int, int]) -> None:
        hit = self.layout.hit_test(pos, self.grid_geom())
        if hit is None:
            return
        if hit.pane is Pane.STRIP:
            self.select_layer(hit.index)
        elif hit.pane is Pane.GRID:
            self.select_channel(hit.index)
        elif hit.pane is Pane.UNIT_MAP and len(self.layer.shape) == 3:
            h, w = self.layer.spatial
            self.state.position = (min(h - 1, int(hit.point[0] * h)), min(w - 1, int(hit.point[1] * w)))
            self.state.target_mode = TargetMode.POSITION

    def select_layer(self, index: int) -> None:
        index = max(0, min(len(self.layers) - 1, index))
        if index != self.state.layer:
            self.state.layer, self.state.page, self.state.position = index, 0, None
            self.state.channel = min(self.state.channel, self.layers[index].channels - 1)
            if self.state.target_mode is TargetMode.POSITION:
                self.state.target_mode = TargetMode.STRONGEST
            self.act_scale.reset()
            self.recon_scale.reset()

    def select_channel(self, channel: int) -> None:
        channel = max(0, min(self.layer.channels - 1, channel))
        if self.state.target_mode is TargetMode.CLASS:
            self.state.target_mode = TargetMode.STRONGEST
        if channel != self.state.channel:
            self.state.channel = channel
            self.recon_scale.reset()
        geom = self.grid_geom()
        per_page = geom.rows * geom.cols
        self.state.page = channel // per_page if per_page < self.layer.channels else 0

    def do(self, action: Action) -> None:
        s = self.state
        if action is Action.QUIT:
            s.running = False
        elif action is Action.PREV_LAYER:
            self.select_layer(s.layer - 1)
        elif action is Action.NEXT_LAYER:
            self.select_layer(s.layer + 1)
        elif action in (Action.PREV_UNIT, Action.NEXT_UNIT, Action.UNIT_UP, Action.UNIT_DOWN):
            cols = self.grid_geom().cols
            step = {Action.PREV_UNIT: -1, Action.NEXT_UNIT: 1, Action.UNIT_UP: -cols, Action.UNIT_DOWN: cols}[action]
            self.select_channel(s.channel + step)
        elif action in (Action.PAGE_UP, Action.PAGE_DOWN):
            geom = self.grid_geom()
            per_page = geom.rows * geom.cols
            pages = math.ceil(self.layer.channels / per_page)
            s.page = max(0, min(pages - 1, s.page + (1 if action is Action.PAGE_DOWN else -1)))
        elif action is Action.CYCLE_METHOD:
            s.method = METHODS[(METHODS.index(s.method) + 1) % len(METHODS)]
            self.recon_scale.reset()
        elif action is Action.GRADCAM:
            s.gradcam = not s.gradcam
        elif action is Action.CLASS_TARGET:
            s.target_mode = TargetMode.STRONGEST if s.target_mode is TargetMode.CLASS else TargetMode.CLASS
            self.recon_scale.reset()
        elif action is Action.STRONGEST:
            s.target_mode, s.position = TargetMode.STRONGEST, None
        elif action is Action.LOCK_SCALE:
            self.act_scale.locked = not self.act_scale.locked
        elif action is Action.FILTERS:
            s.filters, s.whole_layer = not s.filters, False
        elif action is Action.WHOLE_LAYER:
            s.whole_layer, s.filters = not s.whole_layer, False
        elif action is Action.COLORMAP:
            s.colormap = "grey" if s.colormap == "viridis" else "viridis"
        elif action is Action.PAUSE:
            s.paused = not s.paused
        elif action in (Action.NEXT_IMAGE, Action.PREV_IMAGE):
            (self.source.next if action is Action.NEXT_IMAGE else self.source.prev)()
            frame = self.source.read()  # shown at once, paused or not
            if frame is not None:
                self.frame, self.frame_index, self._last_frame_obj = frame, self.source.index, None
        elif action is Action.SAVE:
            self._save_requested = True
        elif action is Action.HELP:
            s.help = not s.help
        self._cache.pop("grid", None)

    # --- update -------------------------------------------------------------------------------------
    def target(self):
        s = self.state
        if s.target_mode is TargetMode.CLASS:
            top = int(self.result.probs.argmax()) if self.result is not None and self.result.probs.size > 1 else 0
            return ClassTarget(top)
        if s.target_mode is TargetMode.POSITION and s.position is not None:
            return UnitTarget(self.layer.name, s.channel, *s.position)
        return ChannelTarget(self.layer.name, s.channel)

    def update(self) -> None:
        if not self.state.paused or self.frame is None:
            try:
                frame = self.source.read()
            except Exception as e:  # a bad frame never crashes the app
                frame, self.message = None, f"source error: {type(e).__name__}: {e}"
            if frame is not None and isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3 \
                    and frame.dtype == np.uint8 and min(frame.shape[:2]) > 0:
                if frame is not self._last_frame_obj:
                    self.frame, self.frame_index = frame, self.source.index
            elif frame is not None:
                self.message = "source gave a frame that is not RGB uint8; skipped"
        if self.frame is not None:
            self._submit()
        res = self.worker.latest()
        if res is not None and res is not self.result:
            self._accept(res)

    def _submit(self) -> None:
        s = self.state
        units = None
        if s.whole_layer and len(self.layer.shape) == 3:
            geom = self.grid_geom()
            units = (geom.first, geom.count)
        params = (self.layer.name, self.target(), s.method, s.gradcam, units)
        if self.frame is self._last_frame_obj and params == self._last_submit:
            return
        self._seq += 1
        req = Request(self.frame, self.frame_index, params[0], params[1], s.method, s.gradcam, self._seq, units)
        self._last_frame_obj, self._last_submit = self.frame, params
        if self.sync:
            self.worker.run_sync(req)
        else:
            self.worker.submit(req)

    def _accept(self, res: Result) -> None:
        if res.model_image.shape[0] <= 1:  # the model itself failed on this frame: say so, keep the last result
            self.message = f"model error: {res.error}"
            return
        if self.message.startswith("model error"):
            self.message = ""
        self.result = res
        self.meters.tick(self.meters.model_times, time.perf_counter())
        if res.request.layer == self.layer.name:
            self.act_scale.update(float(res.activation.max()) if res.activation.size else 0.0)
        if res.recon is not None:
            self.recon_scale.update(images.robust_scale(res.recon))
        self._cache.clear()

    # --- drawing ------------------------------------------------------------------------------------
    def draw(self, surface: pygame.Surface | None = None) -> None:
        surface = surface or self.screen
        now = time.perf_counter()
        self.meters.tick(self.meters.draw_times, now)
        surface.fill(draw.BG)
        L = self.layout
        labels = [(l.name, "x".join(str(v) for v in l.shape), l.kind.value) for l in self.layers]
        draw.strip(surface, L.blocks, labels, self.state.layer, L.strip[1] + L.strip[3])
        self._draw_inputs(surface)
        self._draw_grid(surface)
        self._draw_unit(surface)
        self._draw_status(surface, now)
        if self.state.help:
            draw.overlay_panel(surface, help_lines(), "Keys and mouse  (H or F1 closes)")
        self.frames_drawn += 1
        if self._save_requested:
            self._save_requested = False
            self.save_screenshot(surface)

    def _draw_inputs(self, surface) -> None:
        L = self.layout
        draw.caption(surface, L.source, f"source: {self.source.name}")
        if self.frame is not None:
            h, w = self.frame.shape[:2]
            s = min(L.source[2] / w, L.source[3] / h)
            fw, fh = max(1, int(w * s)), max(1, int(h * s))
            rect = (L.source[0] + (L.source[2] - fw) // 2, L.source[1] + (L.source[3] - fh) // 2, fw, fh)
            key = ("source", id(self.frame), rect)
            if self._cache.get("source_key") != key:
                self._cache["source_key"] = key
                self._cache["source"] = pygame.transform.smoothscale(draw.array_surface(self.frame), rect[2:])
            surface.blit(self._cache["source"], rect[:2])
            top, left, ch, cw = centre_crop_box(h, w, 1.0)
            draw.box(surface, (rect[0] + int(left * s), rect[1] + int(top * s), int(cw * s), int(ch * s)), draw.DIM, 1)
        r = self.result
        draw.caption(surface, L.model_input, "what the model sees")
        if r is None or r.model_image.shape[0] <= 1:
            draw.placeholder(surface, L.model_input, "waiting for the model...")
            return
        draw.blit_image(surface, r.model_image, L.model_input)
        mh, mw = r.model_image.shape[:2]
        if r.unit is not None and r.unit.layer != LOGITS and r.unit.layer == self.layer.name and self.layer.rf:
            t, l, b, rr = self.layer.rf.box(r.unit.y, r.unit.x, mh, mw)
            sx, sy = L.model_input[2] / mw, L.model_input[3] / mh
            draw.box(surface, (L.model_input[0] + int(l * sx), L.model_input[1] + int(t * sy),
                               max(2, int((rr - l) * sx)), max(2, int((b - t) * sy))))
        top5 = np.argsort(-r.probs)[:5]
        names = [self.classes[i] if i < len(self.classes) else str(i) for i in top5]
        draw.caption(surface, L.predictions, "predictions (top 5)")
        draw.predictions(surface, L.predictions, [(n, float(r.probs[i])) for n, i in zip(names, top5)],
                         0 if self.state.target_mode is TargetMode.CLASS else -1)

    def _grid_tiles(self, geom: GridGeometry) -> tuple[np.ndarray, str]:
        """The tiles of the current page and a caption."""
        if self.state.filters:
            from .filters import filter_tiles
            tiles, note = filter_tiles(self.layer, self.module_for(self.layer))
            return tiles[geom.first:geom.first + geom.count], note
        r = self.result
        if self.state.whole_layer:
            if r.layer_recons is None or r.request.layer_units != (geom.first, geom.count):
                raise ValueError("reconstructing every unit...")
            tiles = np.stack([images.signed_rgb(g, images.robust_scale(g)) for g in r.layer_recons])
            if r.request.method is not Method.DECONVNET:
                tiles[r.layer_inactive] //= 3  # dark: the unit is inactive in this frame (its image is 0)
            return tiles, f"{r.request.method.label} of each channel's strongest unit (dark: inactive)"
        act = r.activation
        maps = act[geom.first:geom.first + geom.count]
        tiles = images.colormap(maps, self.act_scale.value, self.state.colormap)
        lock = " (locked)" if self.act_scale.locked else ""
        return tiles, f"scale 0..{self.act_scale.value:.3g}{lock}"

    def module_for(self, layer: LayerInfo):
        return dict(self.worker.pipeline.model.named_modules()).get(layer.module_name)

    def _draw_grid(self, surface) -> None:
        L, geom, r = self.layout, self.grid_geom(), self.result
        pages = math.ceil(self.layer.channels / max(1, geom.rows * geom.cols))
        page = f"  page {self.state.page + 1}/{pages} (PgUp/PgDn)" if pages > 1 else ""
        what = "filters" if self.state.filters else "reconstructions" if self.state.whole_layer else "feature maps"
        title = f"{self.layer.name} {what}: {self.layer.channels} x {'x'.join(map(str, self.layer.shape[1:]))}{page}"
        if r is None or r.request.layer != self.layer.name:
            draw.caption(surface, L.grid, title)
            draw.placeholder(surface, L.grid, "computing...")
            return
        cached = self._cache.get("grid")
        if cached is None:
            try:
                tiles, note = self._grid_tiles(geom)
            except ValueError as e:
                tiles, note = None, str(e)
            grid_surf = pygame.Surface(L.grid[2:])
            grid_surf.fill(draw.BG)
            if tiles is not None:
                local = GridGeometry((0, 0, *L.grid[2:]), geom.rows, geom.cols, geom.tile, geom.gap, geom.first,
                                     len(tiles))
                draw.grid(grid_surf, local, tiles, -1)
            else:
                draw.placeholder(grid_surf, (0, 0, *L.grid[2:]), note)
            cached = self._cache["grid"] = (grid_surf, note)
        grid_surf, note = cached
        surface.blit(grid_surf, L.grid[:2])
        if geom.first <= self.state.channel < geom.first + geom.count:
            draw.frame(surface, geom.tile_rect(self.state.channel), draw.ACCENT, 2)
        draw.caption(surface, L.grid, f"{title}   {note}")

    def _unit_images(self, r: Result) -> dict:
        cached = self._cache.get("unit")
        if cached is not None:
            return cached
        out: dict = {}
        c = min(self.state.channel, r.activation.shape[0] - 1)
        amap = r.activation[c]
        out["map"] = images.colormap(amap, self.act_scale.value, self.state.colormap)
        mh, mw = r.model_image.shape[:2]
        ys = np.minimum((np.arange(mh) * amap.shape[0]) // mh, amap.shape[0] - 1)
        xs = np.minimum((np.arange(mw) * amap.shape[1]) // mw, amap.shape[1] - 1)
        up = images.colormap(amap[ys][:, xs], self.act_scale.value, "viridis")
        out["overlay"] = (0.45 * r.model_image + 0.55 * up).astype(np.uint8)
        if r.recon is not None:
            out["recon"] = images.signed_rgb(r.recon, self.recon_scale.value)
            out["heat"] = images.heat(r.recon)
        if r.cam is not None:
            camc = images.colormap(r.cam, 1.0, "viridis")
            out["cam"] = (0.5 * r.model_image + 0.5 * camc).astype(np.uint8)
            out["gcam"] = images.signed_rgb(r.guided_cam, images.robust_scale(r.guided_cam))
        self._cache["unit"] = out
        return out

    def _draw_unit(self, surface) -> None:
        L, r, s = self.layout, self.result, self.state
        if r is None or r.request.layer != self.layer.name:
            for rect in (L.unit_map, L.overlay, L.recon, L.recon_heat):
                draw.placeholder(surface, rect, "computing...")
            return
        imgs = self._unit_images(r)
        c = min(s.channel, r.activation.shape[0] - 1)
        draw.caption(surface, L.unit_map, f"channel {c} activation (click: position)")
        draw.blit_image(surface, imgs["map"], L.unit_map)
        draw.caption(surface, L.overlay, "overlay on the model input")
        draw.blit_image(surface, imgs["overlay"], L.overlay)
        u = r.unit
        if u is not None and u.layer == self.layer.name and r.activation.shape[1] > 1:
            h, w = r.activation.shape[1:]
            cx = L.unit_map[0] + int((u.x + 0.5) * L.unit_map[2] / w)
            cy = L.unit_map[1] + int((u.y + 0.5) * L.unit_map[3] / h)
            draw.marker(surface, (cx, cy), max(4, L.unit_map[2] // (2 * w)))
        if s.gradcam and "cam" in imgs:
            cls = self.classes[r.cam_class] if r.cam_class < len(self.classes) else str(r.cam_class)
            draw.caption(surface, L.recon, f"Grad-CAM at {self.layer.name}: {cls}")
            draw.blit_image(surface, imgs["cam"], L.recon)
            draw.caption(surface, L.recon_heat, "guided Grad-CAM")
            draw.blit_image(surface, imgs["gcam"], L.recon_heat)
        elif r.error:
            draw.placeholder(surface, L.recon, r.error[:60], draw.WARN)
            draw.placeholder(surface, L.recon_heat, "", draw.WARN)
            self._unit_text(surface, [r.error], draw.WARN)
            return
        elif "recon" in imgs:
            label = r.request.method.label
            draw.caption(surface, L.recon, f"{label} (grey = 0)")
            if r.inactive and r.request.method is not Method.DECONVNET:
                draw.placeholder(surface, L.recon, "unit inactive (activation 0)", draw.WARN)
                draw.placeholder(surface, L.recon_heat, "nothing drives it here", draw.WARN)
            else:
                draw.blit_image(surface, imgs["recon"], L.recon)
                draw.caption(surface, L.recon_heat, f"|{label}| heat map")
                draw.blit_image(surface, imgs["heat"], L.recon_heat)
        if u is not None:
            where = (f"class '{self.classes[u.channel] if u.channel < len(self.classes) else u.channel}' logit"
                     if u.layer == LOGITS else f"{u.layer} channel {u.channel} at (y={u.y}, x={u.x})")
            lines = [f"target: {where}  [{s.target_mode.value}]", f"value {r.value:.4g}    method: {s.method.label}",
                     f"receptive field {int(self.layer.rf.size[0])}x{int(self.layer.rf.size[1])} px"
                     if self.layer.rf else "receptive field: whole input"]
            self._unit_text(surface, lines, draw.TEXT)

    def _unit_text(self, surface, lines, colour) -> None:
        x, y, w, h = self.layout.unit_text
        for i, line in enumerate(lines):
            if 20 * i + 18 > h:
                break
            draw.text(surface, line, (x, y + 20 * i), 19, colour, max_width=w)

    def _draw_status(self, surface, now: float) -> None:
        x, y, w, h = self.layout.status
        pygame.draw.rect(surface, draw.PANEL, (x, y, w, h))
        r = self.result
        if r is None:
            age = "result -"
        elif r.request.frame is self.frame:
            age = "result up to date"
        else:
            age = f"result age {(now - r.request.t_submit) * 1000:.0f} ms"
        msg = self.message or self.source.message
        parts = [f"source {self.source.name}", f"model {self.model_name}", f"device {self.device}",
                 f"draw {Meters.rate(self.meters.draw_times):.0f} fps",
                 f"model {Meters.rate(self.meters.model_times):.1f} fps", age,
                 self.state.method.label, "PAUSED" if self.state.paused else "", f"saves -> {self.save_dir}",
                 "H: help"]
        line = "   ".join(p for p in parts if p)
        if msg:
            line = f"{msg}   |   {line}"
        draw.text(surface, line, (x + 8, y + 5), 18, draw.WARN if msg else draw.DIM, max_width=w - 16)

    # --- saving -------------------------------------------------------------------------------------
    def save_screenshot(self, surface: pygame.Surface) -> Path | None:
        try:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            base, k = time.strftime("viewer-%Y%m%d-%H%M%S"), 0
            while (self.save_dir / f"{base}-{k:02d}.png").exists():
                k += 1
            stem = self.save_dir / f"{base}-{k:02d}"
            png = stem.with_suffix(".png")
            pygame.image.save(surface, str(png))
            u = self.result.unit if self.result is not None else None
            info = {"model": self.model_name, "layer": self.layer.name, "channel": self.state.channel,
                    "unit": None if u is None else {"layer": u.layer, "channel": u.channel, "y": u.y, "x": u.x},
                    "target": self.state.target_mode.value, "method": self.state.method.value,
                    "gradcam": self.state.gradcam, "source": self.source.name, "frame_index": self.frame_index}
            stem.with_suffix(".json").write_text(json.dumps(info, indent=2))
            self.saved.append(png)
            self.message = f"saved {png}"
            return png
        except (OSError, pygame.error) as e:
            self.message = f"could not save a screenshot: {e}"
            return None

    # --- main loop ----------------------------------------------------------------------------------
    def run(self, max_frames: int | None = None, fps: int = 60) -> None:
        clock = pygame.time.Clock()
        while self.state.running and (max_frames is None or self.frames_drawn < max_frames):
            for ev in pygame.event.get():
                self.handle_event(ev)
            self.update()
            self.draw()
            pygame.display.flip()
            if fps:
                clock.tick(fps)
