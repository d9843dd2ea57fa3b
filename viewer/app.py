"""The window: owns the event loop and a small ViewState; handle_event(), update(), draw(), run().

Everything heavy happens in the Worker thread; this module only turns results into pixels, and caches
those pixels so that the window keeps drawing at display rate when the model is slow.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygame

from . import panes
from .atlas.entries import entry_view, unit_entries
from .atlas.live import LiveAtlas
from .core import methods
from .core.attribution import ChannelTarget, ClassTarget, UnitTarget
from .core.graph import LayerInfo, default_layer
from .core.methods import GUIDED, AttributionMethod
from .core.pairing import pair_layers
from .keys import BINDINGS, Action, help_lines
from .render import draw, images
from .render.layout import (
    GridGeometry,
    Pane,
    atlas_tiles,
    compute_layout,
    grid_geometry,
    inside,
)
from .sources import Source
from .state import Meters, TargetMode, ViewState
from .worker import Request, Result, Worker


@dataclass(frozen=True)
class Side:
    """One model of the window: its layers, class names and name (two of them with --compare)."""
    layers: list[LayerInfo]
    classes: list[str]
    name: str
    tag: str = "B"     # A: --model, B: --compare (the letter stays with the model when Tab swaps them)


REFRESH_S = 0.25   # the longest the window goes undrawn (App.due)


class App:
    def __init__(self, screen: pygame.Surface, source: Source, worker: Worker, layers: list[LayerInfo],
                 classes: list[str], model_name: str, device: str = "cpu", save_dir: Path = Path("screenshots"),
                 sync: bool = False, start_layer: str | None = None, method: AttributionMethod = GUIDED,
                 compare: Side | None = None, atlas=None, live_atlas: bool = True):
        """compare: the second model of --compare; the worker's pipeline is then a PairPipeline whose model 0
        is (layers, classes, model_name) and model 1 is compare."""
        self.screen, self.source, self.worker, self.layers = screen, source, worker, layers
        draw.forget_fonts()  # fonts from an earlier pygame session are dead
        self.classes, self.model_name, self.device, self.save_dir, self.sync = classes, model_name, device, save_dir, sync
        names = [l.name for l in layers]
        default = default_layer(layers)
        self.state = ViewState(layer=names.index(start_layer) if start_layer in names else default, method=method)
        self.keymap = {(pygame.key.key_code(k), b.shift): b.action for b in BINDINGS for k in b.keys}
        self.frame: np.ndarray | None = None
        self.frame_index = 0
        self.message = ""
        self.result: Result | None = None
        self._last_submit: tuple | None = None
        self._last_frame_obj = None
        self._frame_seq: int | None = None
        self._seq = 0
        self.panes = [kind() for kind in panes.PANES]   # drawn in this order; each owns its cache
        self.act_scale = images.SmoothScale()
        self.recon_scale = images.SmoothScale()
        self.sides = [Side(layers, classes, model_name, "A")] + ([compare] if compare is not None else [])
        self.front = 0                                  # which side is in front (Tab swaps)
        self.pairing = pair_layers(layers, compare.layers) if compare is not None else {}
        self.other_act_scale, self.other_recon_scale = images.SmoothScale(), images.SmoothScale()
        self.atlas = atlas                              # --atlas: viewer/atlas/store.Atlas, or None
        self.live = LiveAtlas() if live_atlas else None  # the top frames of the selected layer, from the source
        self._frames_taken = 0
        self.meters = Meters()
        self._save_requested = False
        self.saved: list[Path] = []
        self.frames_drawn = 0
        self.dirty, self._last_draw = True, 0.0   # something new to draw (a frame, a result, an event)
        self.relayout(screen.get_size())

    # --- geometry -----------------------------------------------------------------------------------
    @property
    def layer(self) -> LayerInfo:
        return self.layers[self.state.layer]

    @property
    def other(self) -> Side | None:
        """The compared model not in front, or None without --compare."""
        return self.sides[1 - self.front] if len(self.sides) == 2 else None

    def other_layer(self) -> LayerInfo | None:
        """The compared model's layer paired with the selected one (None: unpaired, or no --compare)."""
        other = self.other
        name = self.pairing.get(self.layer.name) if other is not None else None
        return next((l for l in other.layers if l.name == name), None) if name else None

    def relayout(self, size: tuple[int, int]) -> None:
        other = self.other
        self.layout = compute_layout(size, [l.shape for l in self.layers],
                                     [l.shape for l in other.layers] if other is not None else None)
        for p in self.panes:
            p.forget()

    def grid_geom(self) -> GridGeometry:
        return grid_geometry(self.layout.grid, self.layer.channels, self.state.page)

    # --- events -------------------------------------------------------------------------------------
    def handle_event(self, ev: pygame.event.Event) -> None:
        self.dirty = True
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
        s = self.state
        if s.atlas_view and not (s.whole_layer or s.filters) and inside(self.layout.grid, pos):
            self._open_atlas_patch(pos)
            return
        if inside(self.layout.atlas_strip, pos):
            self._open_atlas_patch(pos, self.layout.atlas_strip, recon_rows=False)
            return
        hit = self.layout.hit_test(pos, self.grid_geom())
        if hit is None:
            return
        if hit.pane is Pane.STRIP:
            self.select_layer(hit.index)
        elif hit.pane is Pane.OTHER_STRIP and self.other is not None:
            name = self.other.layers[hit.index].name
            mine = [k for k, l in enumerate(self.layers) if self.pairing.get(l.name) == name]
            if mine:
                self.select_layer(mine[0])
            else:
                self.message = f"{self.other.name} {name} has no counterpart in {self.model_name} (Tab: swap)"
        elif hit.pane is Pane.GRID:
            self.select_channel(hit.index)
        elif hit.pane is Pane.UNIT_MAP and len(self.layer.shape) == 3:
            h, w = self.layer.spatial
            self.state.position = (min(h - 1, int(hit.point[0] * h)), min(w - 1, int(hit.point[1] * w)))
            self.state.target_mode = TargetMode.POSITION

    def _open_atlas_patch(self, pos: tuple[int, int], rect=None, recon_rows: bool = True) -> None:
        """A click on an atlas patch (the A pane, or the strip under the predictions): its image becomes the
        frame (paused), with that unit selected at that position."""
        if self.layer.rf is None:
            return
        kind, entries = unit_entries(self.atlas, self.live, self.layer, self.state.channel)
        geo = atlas_tiles(rect or self.layout.grid, len(entries), recon_rows=recon_rows) if entries else None
        j = geo.hit(pos) if geo is not None else -1
        view = entry_view(self.atlas, self.live, kind, entries[j].key) if j >= 0 else None
        if view is None:
            return
        e = entries[j]
        self.frame, self._frame_seq = view.copy(), None
        self.frame_index = e.key if kind == "file" else self.frame_index
        self._frames_taken += 1
        s = self.state
        s.paused, s.atlas_view = True, False
        s.target_mode, s.position = TargetMode.POSITION, (e.y, e.x)
        self.recon_scale.reset()
        what = f"atlas image {e.label}" if kind == "file" else f"live atlas {e.label}"
        self.message = (f"{what}, {self.layer.name} channel {s.channel} at ({e.y}, {e.x}): paused "
                        "(Space resumes the source)")

    def _reset_live(self, _action: Action) -> None:
        if self.live is not None:
            self.live.reset()
            self.message = "live atlas reset"

    def _ablate(self, action: Action) -> None:
        s = self.state
        if action is Action.CLEAR_ABLATION:
            s.ablated = frozenset()
        else:
            unit = (self.layer.name, s.channel)
            s.ablated = s.ablated - {unit} if unit in s.ablated else s.ablated | {unit}
        self.message = f"{len(s.ablated)} channel(s) ablated (Shift+Z clears)" if s.ablated else "no ablation"

    def _zoom(self, _action: Action) -> None:
        self.state.rf_zoom = not self.zoomed()
        self.recon_scale.reset()       # the box and the whole input have different scales

    def _atlas(self, _action: Action) -> None:
        self._toggle("atlas_view")

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
        """Carry out an action (a key, or a test): one handler per Action, looked up in ACTIONS below."""
        ACTIONS[action](self, action)
        self._changed()

    def _toggle(self, name: str, *others_off: str) -> None:
        s = self.state
        setattr(s, name, not getattr(s, name))
        for other in others_off:
            setattr(s, other, False)

    def _move_unit(self, action: Action) -> None:
        cols = self.grid_geom().cols
        step = {Action.PREV_UNIT: -1, Action.NEXT_UNIT: 1, Action.UNIT_UP: -cols, Action.UNIT_DOWN: cols}[action]
        self.select_channel(self.state.channel + step)

    def _page(self, action: Action) -> None:
        s, geom = self.state, self.grid_geom()
        pages = math.ceil(self.layer.channels / (geom.rows * geom.cols))
        s.page = max(0, min(pages - 1, s.page + (1 if action is Action.PAGE_DOWN else -1)))

    def _cycle_method(self, _action: Action) -> None:
        s = self.state
        registered = methods.METHODS                         # read now: a method registered later is in it
        s.method = registered[(registered.index(s.method) + 1) % len(registered)]
        self.recon_scale.reset()

    def _class_target(self, _action: Action) -> None:
        s = self.state
        s.target_mode = TargetMode.STRONGEST if s.target_mode is TargetMode.CLASS else TargetMode.CLASS
        self.recon_scale.reset()

    def _strongest(self, _action: Action) -> None:
        self.state.target_mode, self.state.position = TargetMode.STRONGEST, None

    def _lock_scales(self, _action: Action) -> None:  # both the feature maps' and the reconstruction's scale
        locked = not self.act_scale.locked
        for scale in (self.act_scale, self.recon_scale, self.other_act_scale, self.other_recon_scale):
            scale.locked = locked

    def _colormap(self, _action: Action) -> None:
        self.state.colormap = "grey" if self.state.colormap == "viridis" else "viridis"

    def _step_image(self, action: Action) -> None:
        (self.source.next if action is Action.NEXT_IMAGE else self.source.prev)()
        frame, seq = self.source.read_seq()  # shown at once, paused or not
        if frame is not None:
            self._take(frame, seq)

    def _swap(self, _action: Action) -> None:
        """Tab: the compared model comes to the front, at the layer paired with the selected one."""
        if self.other is None:
            self.message = "Tab swaps the two models of --compare; this window shows one"
            return
        partner = self.pairing.get(self.layer.name)
        self.front = 1 - self.front
        side = self.sides[self.front]
        self.layers, self.classes, self.model_name = side.layers, side.classes, side.name
        self.pairing = pair_layers(self.layers, self.other.layers)
        names = [l.name for l in self.layers]
        self.state.layer = names.index(partner) if partner in names else default_layer(self.layers)
        self.state.page, self.state.position = 0, None
        self.state.channel = min(self.state.channel, self.layer.channels - 1)
        if self.state.target_mode is TargetMode.POSITION:
            self.state.target_mode = TargetMode.STRONGEST
        for scale in (self.act_scale, self.recon_scale, self.other_act_scale, self.other_recon_scale):
            scale.reset()
        self.result, self._last_submit = None, None
        self.relayout(self.screen.get_size())

    def _quit(self, _action: Action) -> None:
        self.state.running = False

    def _save(self, _action: Action) -> None:
        self._save_requested = True

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
                frame, seq = self.source.read_seq()
            except Exception as e:  # a bad frame never crashes the app
                frame, seq, self.message = None, None, f"source error: {type(e).__name__}: {e}"
            if frame is not None and isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3 \
                    and frame.dtype == np.uint8 and min(frame.shape[:2]) > 0:
                if seq is None or seq != self._frame_seq:  # a new frame, by the source's own counter
                    self._take(frame, seq)
            elif frame is not None:
                self.message = "source gave a frame that is not RGB uint8; skipped"
        if self.frame is not None:
            self._submit()
        res = self.worker.latest()
        if res is not None and res is not self.result:
            self._accept(res)

    def _take(self, frame: np.ndarray, seq: int | None) -> None:
        """Show a new frame: our own copy, so that a request never changes under the worker when the source
        refills its buffer."""
        self.frame, self.frame_index, self._frame_seq = frame.copy(), self.source.index, seq
        self._frames_taken += 1
        self.dirty = True

    def _submit(self) -> None:
        s = self.state
        units = None
        if s.whole_layer and len(self.layer.shape) == 3:
            geom = self.grid_geom()
            units = (geom.first, geom.count)
        params = (self.layer.name, self.target(), s.method, s.gradcam, units, s.filters, s.randomize, s.ablated)
        if self.frame is self._last_frame_obj and params == self._last_submit:
            return
        self._seq += 1
        req = Request(self.frame, self.frame_index, params[0], params[1], s.method, s.gradcam, self._seq, units,
                      weights=s.filters, model=self.front, other=self._other_request(params[1]),
                      frame_no=self._frames_taken, randomize=self.layer.name if s.randomize else None,
                      ablate=tuple(sorted(s.ablated)))
        self._last_frame_obj, self._last_submit = self.frame, params
        if self.sync:
            self.worker.run_sync(req)
        else:
            self.worker.submit(req)

    def _other_request(self, target) -> Request | None:
        """The compared model's request on the same frame: the paired layer, the same kind of target (the
        same channel, position or class, clipped to its layer), the same method; predictions only where
        the layer is unpaired."""
        if self.other is None:
            return None
        layer = self.other_layer()
        if layer is None:
            return Request(self.frame, self.frame_index, self.other.layers[-1].name, None, self.state.method,
                           seq=self._seq, model=1 - self.front)
        c = min(self.state.channel, layer.channels - 1)
        if isinstance(target, ClassTarget):
            other_target = target
        elif isinstance(target, UnitTarget) and len(layer.shape) == 3:
            h, w = layer.spatial
            other_target = UnitTarget(layer.name, c, min(target.y, h - 1), min(target.x, w - 1))
        else:
            other_target = ChannelTarget(layer.name, c)
        return Request(self.frame, self.frame_index, layer.name, other_target, self.state.method, seq=self._seq,
                       model=1 - self.front)

    def _accept(self, res: Result) -> None:
        self.dirty = True
        if res.failed:  # the model itself failed on this frame: say so, keep the last result
            self.message = f"model error: {res.error}"
            return
        if self.message.startswith("model error"):
            self.message = ""
        self.result = res
        self.meters.tick(self.meters.model_times, time.perf_counter())
        if self.live is not None and res.request.model == self.front and res.request.frame_no > 0:
            self.live.update(res.request.layer, res.activation, res.request.frame_no, res.model_image)
        if res.request.layer == self.layer.name:
            self.act_scale.update(float(res.activation.max()) if res.activation.size else 0.0)
        if res.recon is not None:
            recon, u = res.recon, res.unit
            if self.zoomed() and u is not None and u.layer == self.layer.name:   # the scale of what is shown
                recon = images.cut_box(recon, self.layer.rf.box(u.y, u.x))[0]
            self.recon_scale.update(images.robust_scale(recon))
        o = res.other
        if o is not None and not o.failed:
            self.other_act_scale.update(float(o.activation.max()) if o.activation.size else 0.0)
            if o.recon is not None:
                self.other_recon_scale.update(images.robust_scale(o.recon))
        self._changed()

    # --- drawing ------------------------------------------------------------------------------------
    def _changed(self) -> None:
        """A new result or view change: the panes that show the result redraw it from scratch."""
        for p in self.panes:
            if p.follows_result:
                p.forget()

    def pane(self, kind: str) -> panes.Pane:
        """The pane of that class name ("GridPane")."""
        return next(p for p in self.panes if type(p).__name__ == kind)

    def view(self, now: float) -> panes.PaneView:
        """What the panes may read this frame (they never see the App)."""
        r = self.result
        return panes.PaneView(
            self.layout, self.state, self.layer, self.layers, self.grid_geom(), r,
            r is not None and r.request.frame is self.frame, self.frame, self.source.name, self.source.message,
            self.classes, panes.Scale(self.act_scale.value, self.act_scale.locked),
            panes.Scale(self.recon_scale.value, self.recon_scale.locked), self.message, self.model_name,
            self.device, self.save_dir, Meters.rate(self.meters.draw_times), Meters.rate(self.meters.model_times),
            now, self._compare_view(r), self.sides[self.front].tag if self.other is not None else "", self.atlas,
            zoom=self.zoomed(), live_atlas=self.live)

    def zoomed(self) -> bool:
        """Whether the unit's views show its receptive-field box enlarged: V's choice, else by default where
        the box is under a third of the model input."""
        if self.layer.rf is None or self.state.target_mode is TargetMode.CLASS:
            return False
        if self.state.rf_zoom is not None:
            return self.state.rf_zoom
        size = self.result.model_image.shape[:2] if self.result is not None and not self.result.failed else (0, 0)
        return images.zoom_default(self.layer.rf.size, size) if min(size) > 0 else False

    def _compare_view(self, r: Result | None) -> panes.CompareView | None:
        other = self.other
        if other is None:
            return None
        return panes.CompareView(other.tag, other.name, other.classes, other.layers, self.other_layer(), self.pairing,
                                 r.other if r is not None else None,
                                 panes.Scale(self.other_act_scale.value, self.act_scale.locked),
                                 panes.Scale(self.other_recon_scale.value, self.recon_scale.locked))

    def draw(self, surface: pygame.Surface | None = None, laps: list | None = None) -> None:
        """Draw the window; laps (the benchmark's profile): gets (pane, ms) for each pane drawn."""
        surface = surface or self.screen
        now = time.perf_counter()
        self.meters.tick(self.meters.draw_times, now)
        t = [now]

        def lap(pane: str) -> None:
            if laps is not None:
                laps.append((pane, (time.perf_counter() - t[0]) * 1000))
                t[0] = time.perf_counter()
        surface.fill(draw.BG)
        view = self.view(now)
        for p in self.panes:
            p.draw(surface, view)
            lap(p.name)
        if self.state.help:
            draw.overlay_panel(surface, help_lines(), "Keys and mouse  (H or F1 closes)")
        self.frames_drawn += 1
        self.dirty, self._last_draw = False, now
        if self._save_requested:
            self._save_requested = False
            self.save_screenshot(surface)

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
            if self.due(time.perf_counter()):
                self.draw()
                pygame.display.flip()
            elif not fps:
                time.sleep(0.001)   # uncapped, and nothing new: do not spin a core the worker could use
            if fps:
                clock.tick(fps)

    def due(self, now: float) -> bool:
        """Whether the window needs drawing: something new (a frame, a result, an event) or REFRESH_S since
        the last draw (the status bar's rates and the result's age). Redrawing an unchanged window would only
        take CPU from the worker: on 2 cores the model runs about 10% faster for it."""
        return self.dirty or now - self._last_draw >= REFRESH_S


# Action -> handler(app, action): a new key is one line here and one in keys.BINDINGS
ACTIONS = {
    Action.QUIT: App._quit,
    Action.PREV_LAYER: lambda app, a: app.select_layer(app.state.layer - 1),
    Action.NEXT_LAYER: lambda app, a: app.select_layer(app.state.layer + 1),
    Action.PREV_UNIT: App._move_unit,
    Action.NEXT_UNIT: App._move_unit,
    Action.UNIT_UP: App._move_unit,
    Action.UNIT_DOWN: App._move_unit,
    Action.PAGE_UP: App._page,
    Action.PAGE_DOWN: App._page,
    Action.CYCLE_METHOD: App._cycle_method,
    Action.GRADCAM: lambda app, a: app._toggle("gradcam"),
    Action.CLASS_TARGET: App._class_target,
    Action.STRONGEST: App._strongest,
    Action.LOCK_SCALE: App._lock_scales,
    Action.FILTERS: lambda app, a: app._toggle("filters", "whole_layer"),
    Action.WHOLE_LAYER: lambda app, a: app._toggle("whole_layer", "filters"),
    Action.COLORMAP: App._colormap,
    Action.PAUSE: lambda app, a: app._toggle("paused"),
    Action.NEXT_IMAGE: App._step_image,
    Action.PREV_IMAGE: App._step_image,
    Action.SAVE: App._save,
    Action.HELP: lambda app, a: app._toggle("help"),
    Action.SWAP_MODELS: App._swap,
    Action.ATLAS: App._atlas,
    Action.RESET_LIVE_ATLAS: App._reset_live,
    Action.RF_ZOOM: App._zoom,
    Action.RANDOMIZE: lambda app, a: app._toggle("randomize"),
    Action.ABLATE: App._ablate,
    Action.CLEAR_ABLATION: App._ablate,
}
