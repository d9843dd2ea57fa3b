"""W: every unit of the layer reconstructed live, one tile per channel (each at its strongest position), by
the current method; K seeds share one forward pass (they are never summed: the rules are not linear)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    recons: np.ndarray | None = None      # (count, 3, h, w)
    inactive: np.ndarray | None = None    # (count,) bool
    positions: np.ndarray | None = None   # (count, 2) int: each channel's strongest (y, x)
    error: str = ""


class WholeLayer(Toggle):
    name, title = "whole_layer", "whole layer"
    key, help, label, off = ("w",), "whole-layer view: every unit's reconstruction, live (toggle)", "W whole layer", \
        ("filters",)

    def request(self, session, grid):
        if not self.on(session) or len(session.info.shape) != 3:
            return None
        return Units(grid.first, grid.count)

    def step(self, pipe, job, part: Units) -> LayerRecons:
        try:
            res = job.method.reconstruct(job.bulk, job.fp, [ChannelTarget(job.req.layer, c)
                                                             for c in range(part.first, part.first + part.count)])
        except AttributionError as e:
            return LayerRecons(part.first, part.count, error=str(e))
        recons = res.images.numpy()
        if job.nonfinite:
            recons = np.nan_to_num(recons, nan=0.0, posinf=0.0, neginf=0.0)
        job.lap("whole layer")
        return LayerRecons(part.first, part.count, recons, np.array([res.inactive(k) for k in range(part.count)]),
                           np.array([(u.y, u.x) for u in res.units], np.int64).reshape(-1, 2))

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
        recons = part.recons
        if part.positions is not None and v.layer.rf is not None:   # each unit's own box, large at any input size
            recons = [images.cut_box(g, v.layer.rf.box(int(y), int(x)))[0] for g, (y, x) in zip(recons, part.positions)]
        tiles = np.stack([images.signed_rgb(g, images.robust_scale(g)) for g in recons])
        method = as_method(r.request.method)
        if method.zero_when_inactive:
            tiles[part.inactive] //= 3  # dark: the unit is inactive in this frame (its image is 0)
        return what, tiles, f"{method.label} of each channel's strongest unit; dark: inactive"
