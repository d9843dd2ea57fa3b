"""W: every unit of the layer reconstructed live, one tile per channel (each at its strongest position), by
the current method; K seeds share one forward pass (they are never summed: the rules are not linear)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..core.attribution import AttributionError, ChannelTarget
from ..core.methods import as_method
from ..render import images
from .base import Toggle


@dataclass(frozen=True)
class Units:
    """The channels of the page on screen."""
    first: int
    count: int


@dataclass(frozen=True)
class LayerRecons:
    first: int
    count: int
    recons: np.ndarray | None = None      # (done, 3, h, w): the first `done` channels of the page
    inactive: np.ndarray | None = None    # (done,) bool
    positions: np.ndarray | None = None   # (done, 2) int: each channel's strongest (y, x)
    tiles: np.ndarray | None = None       # (done, 3, bh, bw): each reconstruction cut to its unit's box
    scales: np.ndarray | None = None      # (done,): each tile's robust scale (its 99.5th percentile of |g|)
    error: str = ""
    done: int = -1                        # channels finished (-1: all of them)
    seconds_left: float = 0.0             # the estimate while some are still under way

    @property
    def complete(self) -> bool:
        return self.done < 0 or self.done >= self.count


CHUNK_BYTES = 128 << 20


SHOW_PARTS_AFTER_S = 0.25   # a page that takes longer shows its tiles as they finish


class WholeLayer(Toggle):
    name, title = "whole_layer", "whole layer"
    key, help, label, off = ("w",), "whole-layer view: every unit's reconstruction, live (toggle)", "W whole layer", \
        ("filters",)

    def request(self, session, grid):
        if not self.on(session) or len(session.info.shape) != 3:
            return None
        return Units(grid.first, grid.count)

    def step(self, pipe, job, part: Units) -> LayerRecons:
        """In chunks that grow while they are quick (a slow network's page shows its tiles as they finish and
        holds only a chunk's backward pass in memory at once); stops early when a newer request asks for
        another page, layer or method."""
        targets = [ChannelTarget(job.req.layer, c) for c in range(part.first, part.first + part.count)]
        recons, inactive, positions = [], [], []
        # a unit's backward holds about one gradient of each map on its way: as many units at once as fit
        # CHUNK_BYTES for the network's largest map (a 224x224 ResNet: 8; All-CNN-C at 32x32: 32 and more)
        largest = max(int(np.prod(l.shape)) * 4 for l in pipe.layers.values())
        rf = pipe.layers[job.req.layer].rf if job.req.layer in pipe.layers else None
        cap = max(1, CHUNK_BYTES // max(1, largest))
        k, chunk, t0 = 0, min(32, cap), time.perf_counter()
        while k < part.count:
            t = time.perf_counter()
            try:
                res = job.method.reconstruct(job.bulk, job.fp, targets[k:k + chunk])
            except AttributionError as e:
                return LayerRecons(part.first, part.count, error=str(e))
            recons.append(res.images.numpy())
            inactive += [res.inactive(i) for i in range(len(res.units))]
            positions += [(u.y, u.x) for u in res.units]
            k += len(res.units)
            if k < part.count:
                left = (time.perf_counter() - t0) / k * (part.count - k)
                if time.perf_counter() - t0 > SHOW_PARTS_AFTER_S:   # a quick page (All-CNN-C's) is shown once, whole
                    job.report(self.name, self.made(part, recons, inactive, positions, job, k, left, rf))
                if job.superseded():
                    break
                chunk = min(cap, chunk * 2) if time.perf_counter() - t < 0.2 else chunk
        job.lap("whole layer")
        return self.made(part, recons, inactive, positions, job, k if k < part.count else -1, 0.0, rf)

    @staticmethod
    def made(part: Units, recons, inactive, positions, job, done: int, left: float, rf=None) -> LayerRecons:
        """The part so far; with the layer's receptive field, each reconstruction also cut to its unit's box and
        its display scale, here on the worker (torch's top-k on its two threads: the same percentiles by numpy
        on the UI thread took 3-4 ms a page, time the worker lost on 2 cores)."""
        r = np.concatenate(recons)                       # (done, 3, h, w)
        if job.nonfinite:
            r = np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
        pos = np.array(positions, np.int64).reshape(-1, 2)
        tiles = scales = None
        if rf is not None:
            boxes = [rf.box(int(y), int(x)) for y, x in pos]
            tiles = images.cut_boxes(r, boxes)
            if tiles is None:
                tiles = np.stack([images.cut_box(g, b)[0] for g, b in zip(r, boxes)])
            scales = robust_scales(tiles)
        return LayerRecons(part.first, part.count, r, np.array(inactive), pos, tiles=tiles, scales=scales, done=done,
                           seconds_left=left)

    def grid_tiles(self, v, geom):
        if not self.on(v.session):
            return None
        what = f"reconstructions: {v.layer.channels} units"
        if len(v.layer.shape) != 3:
            return what, None, "no spatial map: W is for convolution layers"
        r = v.result
        part = r.part(self.name)
        if part is not None and part.error:
            return what, None, "no reconstructions: the unit panel says why"   # e.g. no ReLU for guided backprop
        if part is None or part.recons is None or (part.first, part.count) != (geom.first, geom.count):
            return what, None, "reconstructing every unit..."
        if part.tiles is not None:                   # each unit's own box, cut and scaled by the worker
            tiles = images.signed_rgb_each(part.tiles, scales=part.scales)
        else:
            tiles = images.signed_rgb_each(part.recons)
        method = as_method(r.request.method)
        if method.zero_when_inactive:
            tiles[part.inactive] //= 3  # dark: the unit is inactive in this frame (its image is 0)
        if not part.complete:           # the rest of the page: empty tiles until they are done; the progress
            rest = np.full((part.count - len(tiles), *tiles.shape[1:]), 40, np.uint8)   # in the title (always seen)
            return f"reconstructing: {len(tiles)} of {part.count} done, ~{part.seconds_left:.0f} s left", \
                np.concatenate([tiles, rest]), "tiles appear as they finish"
        return what, tiles, (f"{method.label} of each channel's strongest unit; dark: inactive",
                             f"{method.label}, each channel's strongest unit")


def robust_scales(gs: np.ndarray, q: float = 99.5) -> np.ndarray:
    """np.percentile(|g|, q) of each of N images (N, ...), linear interpolation, by torch's top-k (only the top
    (1 - q/100) of each image is sorted)."""
    n = len(gs)
    flat = torch.from_numpy(np.ascontiguousarray(gs).reshape(n, -1)).abs()
    m = flat.shape[1]
    if n == 0 or m == 0:
        return np.zeros(n, np.float32)
    k = q / 100 * (m - 1)
    lo = int(np.floor(k))
    hi, f = min(lo + 1, m - 1), k - lo
    top = flat.topk(m - lo, dim=1).values          # descending: sorted index i is top[:, m - 1 - i]
    a, b = top[:, m - 1 - lo].double(), top[:, m - 1 - hi].double()
    return (a + (b - a) * f).numpy()
