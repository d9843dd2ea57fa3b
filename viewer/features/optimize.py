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
from ..core.featvis_cache import VisCache, model_key
from ..paths import cache_dir
from ..core.targets import AttributionError
from .base import Key, Slot, Toggle

METHODS = (VisMethod.FOURIER, VisMethod.DVT, VisMethod.ACCENTUATE)
BUDGET_S = 0.06        # optimization time per result: the window keeps drawing, the other views keep updating
KEPT = 8               # visualizers kept in the worker (a unit gone back to goes on where it stopped)
CHUNK = 16             # W + O: units optimized at once (one batch; 1.6 ms a unit-step in bf16 here)


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
class MosaicAsk:
    """W + O: every unit of the page at the map's centre, optimized in chunks."""
    layer: str
    first: int
    count: int
    method: str
    seen: int


@dataclass(frozen=True)
class Mosaic:
    layer: str
    first: int
    count: int
    method: str
    pictures: tuple = ()          # per channel of the page: (h, w, 3) uint8, or None while not started
    finished: int = 0             # units of the page done
    steps: int = 0                # steps run for this page so far (a new request until it is finished)
    seconds_left: float = 0.0
    error: str = ""


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
        if getattr(session.part("whole_layer"), "on", False):
            return MosaicAsk(session.info.name, grid.first, grid.count, METHODS[st.method].value, st.seen)
        _, h, w = session.info.shape
        pos = session.position if session.position is not None else (h // 2, w // 2)
        return Ask(session.info.name, session.channel, tuple(pos), METHODS[st.method].value, st.seen)

    def step(self, pipe, job, part):
        if isinstance(part, MosaicAsk):
            return self.mosaic(pipe, job, part)
        return self.one(pipe, job, part)

    def mosaic(self, pipe, job, part: MosaicAsk) -> Mosaic:
        """The page's units in chunks of CHUNK at the map's centre, one batch each; finished pictures are kept
        (per layer, channel and method) and shown while the next chunk refines."""
        kept = pipe.kept(self.name)
        done = kept.setdefault("finished", {})
        layer = pipe.layers[part.layer]
        centre = (layer.shape[1] // 2, layer.shape[2] // 2)
        page = range(part.first, part.first + part.count)
        ablated = job.req.parts.get("ablation")   # pictures made while Z switches channels off are kept apart
        settings = VisSettings(method=VisMethod(part.method))
        disk = _disk(pipe, job, settings.method)
        for c in page:
            if (part.layer, c, part.method, ablated) not in done and disk is not None:
                hit = disk.load(part.layer, c, centre, settings)
                if hit is not None:
                    done[(part.layer, c, part.method, ablated)] = hit[0]
        todo = [c for c in page if (part.layer, c, part.method, ablated) not in done]
        vis, live, left = kept.get("chunk"), {}, 0.0
        try:
            if todo and (vis is None or vis.layer.name != part.layer or vis.channels[0] != todo[0] or
                         vis.settings.method.value != part.method or getattr(vis, "ablated", None) != ablated):
                vis = kept["chunk"] = Visualizer(pipe.model, layer, pipe.spec, todo[:CHUNK], centre, settings,
                                                 start=_start(job), bf16=pipe.bf16)
                vis.ablated = ablated
            if todo:
                t0, n0 = time.perf_counter(), vis.steps
                while not vis.done and time.perf_counter() - t0 < BUDGET_S * 3:
                    vis.run(1)
                if vis.steps > n0:
                    kept["per_step"] = (time.perf_counter() - t0) / (vis.steps - n0)
                total = vis.settings.steps
                left = kept.get("per_step", 0.0) * (total - vis.steps + total * -(-(len(todo) - CHUNK) // CHUNK))
                values = vis.values().tolist() if vis.done else []
                for i, (c, pic) in enumerate(zip(vis.channels, vis.rgb())):
                    live[c] = pic
                    if vis.done:
                        done[(part.layer, c, part.method, ablated)] = pic
                        if disk is not None:
                            disk.save(part.layer, c, centre, vis.settings, pic, values[i], vis.steps, vis.crop)
        except AttributionError as e:
            return Mosaic(part.layer, part.first, part.count, part.method, error=str(e))
        job.lap("optimize")
        pics = tuple(done.get((part.layer, c, part.method, ablated), live.get(c)) for c in page)
        finished = sum((part.layer, c, part.method, ablated) in done for c in page)
        kept["runs"] = kept.get("runs", 0) + bool(todo)   # unchanged once the page is finished: no new requests
        return Mosaic(part.layer, part.first, part.count, part.method, pics, finished, kept["runs"], max(0.0, left))

    def one(self, pipe, job, part: Ask) -> Wanted:
        kept = pipe.kept(self.name)
        key = (part.layer, part.channel, part.position, part.method, job.req.parts.get("ablation"))
        method = VisMethod(part.method)
        disk, settings = _disk(pipe, job, method), VisSettings(method=method)
        try:
            vis = kept.pop(key, None)
            hit = disk.load(part.layer, part.channel, part.position, settings) if vis is None and disk else None
            if hit is not None:   # optimized before, for this model and these settings
                pic, value, steps, box = hit
                return Wanted(part.layer, part.channel, part.position, part.method, pic, steps, settings.steps,
                              value, _frame_value(job, part), box)
            if vis is None:
                vis = Visualizer(pipe.model, pipe.layers[part.layer], pipe.spec, [part.channel], part.position,
                                 VisSettings(method=method), start=_start(job), bf16=pipe.bf16)
            kept[key] = vis
            units = [k for k in kept if isinstance(k, tuple)]
            for k in units[:max(0, len(units) - KEPT)]:
                kept.pop(k)
            end = time.perf_counter() + BUDGET_S
            while not vis.done and time.perf_counter() < end:
                vis.run(2)
        except AttributionError as e:
            return Wanted(part.layer, part.channel, part.position, part.method, error=str(e))
        job.lap("optimize")
        pic, value = vis.rgb()[0], float(vis.values()[0])
        if vis.done and disk is not None:
            disk.save(part.layer, part.channel, part.position, vis.settings, pic, value, vis.steps, vis.crop)
            kept.pop(key, None)   # on disk now: read back from there
        return Wanted(part.layer, part.channel, part.position, part.method, pic, vis.steps, vis.settings.steps,
                      value, _frame_value(job, part), vis.crop)

    # --- main thread --------------------------------------------------------------------------------------------
    def current(self, v, r) -> Wanted | None:
        part = r.part(self.name) if r is not None else None
        ok = isinstance(part, Wanted) and part.layer == v.layer.name and part.channel == v.session.channel
        return part if ok else None

    def accept(self, session, result) -> None:
        part = result.part(self.name)
        st = session.part(self.name)
        if part is not None and st.on and not part.error:
            st.seen = part.steps

    def grid_tiles(self, v, geom):
        part = v.result.part(self.name) if v.result is not None else None
        if not isinstance(part, Mosaic) or not v.session.part(self.name).on:
            return None
        return mosaic_tiles(v, geom, part)

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
        atlas = getattr(v.session.part("atlas"), "file", None)       # --atlas FILE: the data set's best too
        la = atlas.layers.get(part.layer) if atlas is not None else None
        best = float(la.values[part.channel, 0]) if la is not None and part.channel < len(la.values) else 0.0
        data = [(f"the data set's best {best:.3g}: reached {part.value / best:.1f}x", f"data set's best: "
                 f"{part.value / best:.1f}x")] if best > 0 else []
        return [(f"O: ({part.position[0]}, {part.position[1]}) reaches {part.value:.3g}{ratio} "
                 f"(frame {part.frame:.3g})", f"O: reaches {part.value:.3g}{ratio}"), *data,
                (f"optimized box rows {t}-{b}, columns {l}-{rr} of the input", f"box {b - t}x{rr - l} px")]


def _start(job) -> torch.Tensor | None:
    """The frame as the model sees it, (C, H, W) in [0, 1]: where accentuation starts."""
    if job.view is None:
        return None
    view = job.view if job.view.ndim == 3 else job.view[..., None]
    return torch.from_numpy(np.ascontiguousarray(view)).permute(2, 0, 1).float() / 255



def mosaic_tiles(v, geom, part: Mosaic):
    """The grid's tiles under W + O: each unit's picture, grey until its chunk has started."""
    what = f"what each unit wants: {v.layer.channels} units at the map's centre"
    if part.error:
        return what, None, part.error
    if (part.layer, part.first, part.count) != (v.layer.name, geom.first, geom.count) or not part.pictures or \
            all(p is None for p in part.pictures):
        return what, None, "optimizing every unit of the page..."
    shape = next(p for p in part.pictures if p is not None).shape
    tiles = np.stack([p if p is not None and p.shape == shape else np.full(shape, 40, np.uint8)
                      for p in part.pictures])
    label = VisMethod(part.method).label
    if part.finished < part.count:
        return (f"optimizing: {part.finished} of {part.count} done, ~{part.seconds_left:.0f} s left", tiles,
                f"{label}; {CHUNK} units at a time, each tile refines as you watch")
    return what, tiles, (f"{label}, 256 steps each; Shift+O: another method", f"{label}, 256 steps each")


def _frame_value(job, part: Ask) -> float:
    act = job.fp.activation(part.layer)
    y, x = part.position
    return float(act[part.channel, y, x]) if act.dim() == 3 and y < act.shape[1] and x < act.shape[2] else 0.0


def _disk(pipe, job, method: VisMethod) -> VisCache | None:
    """The on-disk cache for this model's weights as they are now (their key is computed again when a weight
    changes); None while an ablation (Z) changes what the model computes, or accentuation's frame matters."""
    if job.req.parts.get("ablation") is not None or method is VisMethod.ACCENTUATE:
        return None
    kept = pipe.kept("optimize")
    versions = tuple(t._version for t in pipe.model.state_dict().values())
    if kept.get("disk_versions") != versions:
        spec = pipe.spec   # the input size and normalisation change the image too, and the precision its numbers
        extra = f"{spec.size}{spec.mean}{spec.std}{spec.channels}{'bf16' if pipe.bf16 else 'fp32'}"
        kept["disk"], kept["disk_versions"] = VisCache(cache_dir(), model_key(pipe.model, extra)), versions
    return kept["disk"]
