"""The window: the event loop, the layout, drawing. What is selected and switched on lives in the Session
(viewer/session.py), every analysis in its feature (viewer/features), every pane owns its rectangle, its
clicks and its cache (viewer/panes); the Worker thread does the heavy work and hands back frozen Results."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pygame

from . import panes
from .core.methods import GUIDED, AttributionMethod
from .feed import Feed
from .features import active
from .features.zoom import zoomed
from .keys import ACTIONS, BINDINGS, Action, help_lines
from .meters import Meters
from .render import draw
from .render.layout import GridGeometry, compute_layout, grid_geometry
from .screenshot import save_screenshot
from .session import Level, Session, Side, TargetMode
from .sources import Source
from .worker import Worker

REFRESH_S = 0.25   # the longest the window goes undrawn (App.due)

__all__ = ["App", "Side", "TargetMode"]


class App:
    def __init__(self, screen: pygame.Surface, source: Source, worker: Worker, layers, classes, model_name: str,
                 device: str = "cpu", save_dir: Path = Path("screenshots"), sync: bool = False,
                 start_layer: str | None = None, method: AttributionMethod = GUIDED, compare: Side | None = None,
                 pick_unit: bool = True, accuracy: float | None = None, **options):
        """compare: the second model of --compare (the worker's pipeline is then a PairPipeline whose model 0
        is this one); pick_unit: select each layer's most active channel on its first result (Session);
        accuracy: the model's test accuracy; options: what the features start with (atlas=: an --atlas file,
        live_atlas=False, record=: an MP4 to record to, recipes=: how two compared models' training differed,
        series=: a training run's epoch snapshots, series_b=: the --compare run's)."""
        self.screen, self.source, self.worker, self.device, self.save_dir, self.sync = \
            screen, source, worker, device, save_dir, sync
        draw.forget_fonts()  # fonts from an earlier pygame session are dead
        sides = [Side(layers, classes, model_name, "A", accuracy)] + ([compare] if compare is not None else [])
        self.session = Session(sides, start_layer, method, pick_unit, save_dir=save_dir, **options)
        self.keymap = {(pygame.key.key_code(k), b.shift): (lambda a=b.action: ACTIONS[a](self))
                       for b in BINDINGS for k in b.keys}
        for f in active():
            self.keymap.update({(pygame.key.key_code(k), key.shift): (lambda h=key.handler: h(self.session))
                                for key in f.keys() for k in key.keys})
        core = [kind() for kind in panes.PANES]   # drawn in this order, the status bar last; each owns its cache
        self.panes = core[:-1] + [p for f in active() for p in f.panes()] + core[-1:]
        self.feed, self._seq = Feed(source), 0
        self.mouse: tuple[int, int] | None = None     # where the pointer is (its tooltip is drawn)
        self._last_key: tuple | None = None
        self._front, self._last_res, self._last_frame = 0, None, None
        self._seen = (None, -1)                  # (result, session version) the panes' caches were made for
        self.meters, self.saved, self.frames_drawn = Meters(), [], 0
        self.save_requested, self.dirty, self._last_draw = False, True, 0.0
        self.frame_dirty, self._overlay = False, False   # a new frame alone; a tooltip or help drawn last time
        self.relayout(screen.get_size())

    # --- what is selected (the Session holds it) ----------------------------------------------------------
    @property
    def layer(self):
        return self.session.info

    @property
    def result(self):
        return self.session.result

    @property
    def frame(self) -> np.ndarray | None:
        return self.feed.frame

    def pane(self, kind: str) -> panes.Pane:
        """The pane of that class name ("GridPane")."""
        return next(p for p in self.panes if type(p).__name__ == kind)

    def relayout(self, size: tuple[int, int]) -> None:
        other = self.session.other
        self.layout = compute_layout(size, [l.shape for l in self.session.layers],
                                     [l.shape for l in other.layers] if other is not None else None)
        for p in self.panes:
            p.forget()

    def grid_geom(self) -> GridGeometry:
        return grid_geometry(self.layout.grid, self.layer.channels, self.session.page)

    def per_page(self) -> int:
        g = self.grid_geom()
        return g.rows * g.cols

    # --- events -------------------------------------------------------------------------------------------
    def handle_event(self, ev: pygame.event.Event) -> None:
        self.dirty = True
        if ev.type == pygame.QUIT:
            self.session.running = False
        elif ev.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
            self.screen = pygame.display.get_surface() or self.screen
            self.relayout(self.screen.get_size())
        elif ev.type == pygame.KEYDOWN:
            shift = bool(ev.mod & pygame.KMOD_SHIFT)
            handler = self.keymap.get((ev.key, shift)) or self.keymap.get((ev.key, False))
            if handler is not None:
                handler()
                self.after_key()
        elif ev.type == pygame.MOUSEMOTION:
            self.mouse = ev.pos
        elif ev.type == pygame.WINDOWLEAVE:
            self.mouse = None
        elif ev.type == pygame.MOUSEBUTTONDOWN and ev.button == 1:
            view = self.view(time.perf_counter())
            any(p.click(ev.pos, self.session, view) for p in self.panes)   # the first pane that owns the point

    def do(self, action: Action) -> None:
        """Carry out one of the window's own actions (a key, or a test)."""
        ACTIONS[action](self)
        self.after_key()

    def after_key(self) -> None:
        self.session.changed()
        if self.session.front != self._front:   # Tab: the other model is in front, its strip on top
            self._front = self.session.front
            self.relayout(self.screen.get_size())

    def step_image(self, step: int) -> None:
        self.dirty = self.feed.step(step, self.session) or self.dirty

    def pause(self) -> None:
        s = self.session
        s.paused = not s.paused
        s.notify("paused: the analysis keeps working on this frame (Space resumes)" if s.paused else "resumed")
        s.changed()

    # --- update -------------------------------------------------------------------------------------------
    def update(self) -> None:
        s = self.session
        self.frame_dirty = self.feed.poll(s) or self.frame_dirty
        if self.frame is not None:
            self._submit()
        res = self.worker.latest()
        if res is not None and res is not self._last_res:
            self._last_res = res
            self.dirty = True
            s.accept(res)
            if not res.failed and not res.interim:
                self.meters.tick(self.meters.model_times, time.perf_counter())

    def _submit(self) -> None:
        req = self.session.request(self.frame, self.feed.index, self.feed.taken, self._seq + 1, self.grid_geom())
        if self.frame is self._last_frame and req.key() == self._last_key:
            return
        self._seq, self._last_key, self._last_frame = self._seq + 1, req.key(), self.frame
        self.worker.run_sync(req) if self.sync else self.worker.submit(req)

    # --- drawing ------------------------------------------------------------------------------------------
    def view(self, now: float) -> panes.PaneView:
        """What the panes may read this frame (they never see the App)."""
        r = self.session.result
        return panes.PaneView(
            layout=self.layout, session=self.session, grid=self.grid_geom(), result=r,
            result_is_current=r is not None and (r.request.frame is self.frame or  # a process's: a copy
                                                 (r.request.seq == self._seq and self._last_frame is self.frame)),
            frame=self.frame,
            source_name=self.feed.name, source_message=self.source.message,
            device=", ".join(filter(None, (self.device, getattr(self.worker, "where", "")))),  # own process, or not
            save_dir=self.save_dir, draw_fps=Meters.rate(self.meters.draw_times, now),
            model_fps=Meters.rate(self.meters.model_times, now), now=now, zoom=zoomed(self.session))

    def draw(self, surface: pygame.Surface | None = None, laps: list | None = None) -> None:
        """Draw the window; laps (the benchmark's profile): gets (pane, ms) for each pane drawn."""
        surface = surface or self.screen
        now = time.perf_counter()
        self.meters.tick(self.meters.draw_times, now)
        seen = (id(self.session.result), self.session.version)
        if seen != self._seen:            # a new result or view change: those panes redraw from scratch
            self._seen = seen
            for p in self.panes:
                if p.follows_result:
                    p.forget()
        surface.fill(draw.BG)
        view = self.view(now)
        for p in self.panes:
            t = time.perf_counter()
            p.draw(surface, view)
            if laps is not None:
                laps.append((p.name, (time.perf_counter() - t) * 1000))
        tip = next((t for p in self.panes if (t := p.tooltip(self.mouse, view))), "") if self.mouse else ""
        if tip and not self.session.help:
            draw.tooltip(surface, self.mouse, tip)
        self._overlay = bool(tip) or self.session.help
        if self.session.help:
            draw.overlay_panel(surface, help_lines(), "Keys and mouse  (H or F1 closes)")
        for f in active():
            f.drawn(self.session, surface, now)
        self.frames_drawn += 1
        self.dirty, self.frame_dirty, self._last_draw = False, False, now
        if self.save_requested:
            self.save_requested = False
            self.save_screenshot(surface)

    def draw_frame(self, surface: pygame.Surface | None = None) -> list:
        """Only the frame changed (a camera's 30 a second, while the result and the view stay): redraw the panes'
        parts that show it and return their rectangles. A whole window per camera frame took the UI thread ~6 ms
        each, time the worker's two threads lost on 2 cores (issue 36)."""
        surface = surface or self.screen
        now = time.perf_counter()
        self.meters.tick(self.meters.draw_times, now)
        view = self.view(now)
        rects = [r for p in self.panes for r in p.frame_rects(surface, view)]
        for f in active():
            f.drawn(self.session, surface, now)
        self.frames_drawn += 1
        self.frame_dirty = False
        return rects

    def save_screenshot(self, surface: pygame.Surface) -> Path | None:
        png, error = save_screenshot(surface, self.save_dir, self.session, self.feed.name, self.feed.index)
        if png is not None:
            self.saved.append(png)
            self.session.notify(f"saved {png}")
        else:
            self.session.notify(f"could not save a screenshot: {error}", Level.WARN)
        return png

    # --- main loop ----------------------------------------------------------------------------------------
    def run(self, max_frames: int | None = None, fps: int = 60) -> None:
        clock = pygame.time.Clock()
        try:
            while self.session.running and (max_frames is None or self.frames_drawn < max_frames):
                self.step(fps)
                if fps:
                    clock.tick(fps)
        finally:
            self.close()

    def close(self) -> None:
        """Finish what the features hold open (a recording)."""
        for f in active():
            f.close(self.session)

    def step(self, fps: int = 60) -> bool:
        """One turn of the loop (events, update, draw when due); True when it drew. The benchmark drives it."""
        for ev in pygame.event.get():
            self.handle_event(ev)
        self.update()
        if self.frame_dirty and self._overlay:     # a tooltip or the help lies over the window: draw it all
            self.dirty = True
        if self.due(time.perf_counter()):
            self.draw()
            pygame.display.flip()
            return True
        if self.frame_dirty:
            pygame.display.update(self.draw_frame())
            return True
        if not fps:
            time.sleep(0.001)   # uncapped, and nothing new: do not spin a core the worker could use
        return False

    def due(self, now: float) -> bool:
        """Whether the window needs drawing: something new (a frame, a result, an event) or REFRESH_S since
        the last draw (the status bar's rates and the result's age). Redrawing an unchanged window would only
        take CPU from the worker: on 2 cores the model runs about 10% faster for it."""
        return self.dirty or now - self._last_draw >= REFRESH_S
