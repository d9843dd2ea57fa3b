"""O: what the selected unit "wants": an image optimized to drive it (core/featvis.py), refined by the worker a few
steps per result beside the unit's reconstruction, with its step count and the activation it reaches against the
frame's. The unit is the channel at the centre of its map (Lucid's neuron objective), or the position clicked on
the unit's map; only its receptive-field box is optimized. Shift+O switches the method: Lucid's Fourier
parameterization, DVT's regularized gradient ascent, or accentuation (the frame pushed toward the unit). A unit
is optimized once per method while the window is open (the last few are kept)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..core.featvis import Visualizer, VisMethod, VisSettings
from ..core.targets import AttributionError
from .base import Key, Slot, Toggle

METHODS = (VisMethod.FOURIER, VisMethod.DVT, VisMethod.ACCENTUATE)
BUDGET_S = 0.06        # optimization time per result: the window keeps drawing, the other views keep updating
KEPT = 8               # visualizers kept in the worker (a unit gone back to goes on where it stopped)


@dataclass
class OptimizeState:
    on: bool = False
    method: int = 0
    seen: int = 0          # steps shown so far (a new request until the optimization is done)


@dataclass(frozen=True)
class Ask:
    layer: str
    channel: int
    position: tuple[int, int]
    method: str
    seen: int


@dataclass(frozen=True)
class Wanted:
    layer: str
    channel: int
    position: tuple[int, int]
    method: str
    picture: np.ndarray | None = None     # (h, w, 3) uint8: the optimized box
    steps: int = 0
    total: int = 0
    value: float = 0.0                    # the unit's activation on the picture
    frame: float = 0.0                    # ... on this frame
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    error: str = ""


class Optimize(Toggle):
    name, title = "optimize", "what a unit wants"
    label = "O optimizing"

    def keys(self):
        return (Key(("o",), False, "what the unit wants: an optimized image (toggle)", self.toggle),
                Key(("o",), True, "optimized image: next method (Fourier, DVT, accentuate)", self.next_method))

    def initial(self, options):
        return OptimizeState()

    def next_method(self, session) -> None:
        st = session.part(self.name)
        st.method, st.on, st.seen = (st.method + 1) % len(METHODS), True, 0
        session.changed()

    def mode(self, session) -> str:
        st = session.part(self.name)
        return f"O {METHODS[st.method].value}" if st.on else ""

    def request(self, session, grid):
        st = session.part(self.name)
        if not st.on or len(session.info.shape) != 3:
            return None
        _, h, w = session.info.shape
        pos = session.position if session.position is not None else (h // 2, w // 2)
        return Ask(session.info.name, session.channel, tuple(pos), METHODS[st.method].value, st.seen)

    def step(self, pipe, job, part: Ask) -> Wanted:
        kept = pipe.kept(self.name)
        key = (part.layer, part.channel, part.position, part.method)
        method = VisMethod(part.method)
        try:
            vis = kept.pop(key, None)
            if vis is None:
                start = None if job.view is None else torch.from_numpy(np.ascontiguousarray(
                    job.view if job.view.ndim == 3 else job.view[..., None])).permute(2, 0, 1).float() / 255
                vis = Visualizer(pipe.model, pipe.layers[part.layer], pipe.spec, [part.channel], part.position,
                                 VisSettings(method=method), start=start)
            kept[key] = vis
            while len(kept) > KEPT:
                kept.pop(next(iter(kept)))
            end = time.perf_counter() + BUDGET_S
            while not vis.done and time.perf_counter() < end and not job.superseded():
                vis.run(2)
        except AttributionError as e:
            return Wanted(part.layer, part.channel, part.position, part.method, error=str(e))
        job.lap("optimize")
        pic = (vis.pictures()[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        if pic.shape[2] == 1:
            pic = np.repeat(pic, 3, axis=2)
        act = job.fp.activation(part.layer)
        y, x = part.position
        frame = float(act[part.channel, y, x]) if act.dim() == 3 and y < act.shape[1] and x < act.shape[2] else 0.0
        return Wanted(part.layer, part.channel, part.position, part.method, pic, vis.steps, vis.settings.steps,
                      float(vis.values()[0]), frame, vis.crop)

    # --- main thread --------------------------------------------------------------------------------------------
    def current(self, v, r) -> Wanted | None:
        part = r.part(self.name) if r is not None else None
        ok = part is not None and part.layer == v.layer.name and part.channel == v.session.channel
        return part if ok else None

    def accept(self, session, result) -> None:
        part = result.part(self.name)
        st = session.part(self.name)
        if part is not None and st.on and not part.error:
            st.seen = part.steps

    def slots(self, v, r):
        part = self.current(v, r)
        if part is None:
            return {}
        if part.error:
            return {1: Slot("what it wants", note=part.error, warn=True)}
        label = VisMethod(part.method).label
        return {1: Slot((f"what it wants ({label}), step {part.steps}/{part.total}",
                         f"what it wants, {part.steps}/{part.total}", "wants"), part.picture)}

    def lines(self, v, r):
        part = self.current(v, r)
        if part is None or part.error:
            return []
        ratio = f", {part.value / part.frame:.1f}x the frame's" if part.frame > 0 else ""
        t, l, b, rr = part.box
        return [(f"O: ({part.position[0]}, {part.position[1]}) reaches {part.value:.3g}{ratio} "
                 f"(frame {part.frame:.3g})", f"O: reaches {part.value:.3g}{ratio}"),
                (f"optimized box rows {t}-{b}, columns {l}-{rr} of the input", f"box {b - t}x{rr - l} px")]
