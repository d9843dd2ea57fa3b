"""F: the layer's weights in the grid's place, one tile per output channel (RGB filters where the layer reads
the image, else each filter's strongest input channel), read once per layer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..filters import filter_tiles, first_weight
from .base import Toggle


@dataclass(frozen=True)
class Ask:
    layer: str


@dataclass(frozen=True)
class Weights:
    weights: np.ndarray | None   # the layer module's first conv / linear weight, or None


class Filters(Toggle):
    name, title = "filters", "filters"
    key, help, label, off = ("f",), "filters view: the layer's weights (toggle)", "F filters", ("whole_layer",)

    def request(self, session, grid):
        return Ask(session.info.name) if self.on(session) else None

    def weights(self, pipe, layer: str) -> np.ndarray | None:
        """The first conv / linear weight of the layer's module, as numpy (a copy, cached per layer)."""
        kept = pipe.kept(self.name)
        if layer not in kept:
            info = pipe.layers.get(layer)
            module = dict(pipe.model.named_modules()).get(info.module_name) if info else None
            kept[layer] = first_weight(module)
        return kept[layer]

    def prepare(self, pipe, req, part: Ask) -> None:
        self.weights(pipe, part.layer)      # before an ablation zeroes any of them

    def step(self, pipe, job, part: Ask) -> Weights:
        return Weights(self.weights(pipe, part.layer))

    def grid_tiles(self, v, geom):
        if not self.on(v.session):
            return None
        part = v.result.part(self.name)
        if part is None:
            return "filters", None, "reading the weights..."
        tiles, note = filter_tiles(v.layer, part.weights)
        w = part.weights
        what = f"filters: {w.shape[0]} x {'x'.join(map(str, w.shape[1:]))}" if w is not None else "filters"
        return what, (None if tiles is None else tiles[geom.first:geom.first + geom.count]), note
