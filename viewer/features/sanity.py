"""X: the sanity check of Adebayo et al. (2018) live: the same target reconstructed in a copy of the model whose
weights are re-initialised from the top down to the selected layer (core/sanity.py), beside the real one, with
their Spearman rank correlations (|map| and signed) and SSIM. A map that barely changes does not depend on
what the network learned."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.attribution import LOGITS, Analyzer, AttributionError, ClassTarget
from ..core.methods import as_method
from ..render import images
from .base import Slot, Toggle


@dataclass(frozen=True)
class Randomize:
    cut: str            # re-initialise from the top down to this layer


@dataclass(frozen=True)
class Twin:
    recon: np.ndarray                        # the same target in the randomized copy (3, h, w)
    layers: tuple[str, ...]                  # the layers that copy re-initialised
    similarity: tuple[float, float, float]   # Spearman |maps|, Spearman signed, SSIM


class Sanity(Toggle):
    name, title = "sanity", "sanity check"
    key, help, label = ("x",), "sanity check: the map in a copy randomized down to here", "X randomized copy"

    def request(self, session, grid):
        return Randomize(session.info.name) if self.on(session) else None

    def randomized(self, pipe, cut: str) -> tuple[Analyzer, tuple[str, ...]]:
        """The analyzer of the model's copy randomized from the top down to `cut` (made once per cut)."""
        kept = pipe.kept(self.name)
        if cut not in kept:
            from ..core.sanity import cascading_randomized, randomized_from
            layers = list(pipe.layers.values())
            twin = cascading_randomized(pipe.model, layers, cut)
            kept[cut] = (Analyzer(twin, layers, bf16_forward=pipe.bf16, output=pipe.output,
                                  pixel_bounds=pipe.analyzer.pixel_bounds),
                         tuple(l.name for l in randomized_from(layers, cut)))
        return kept[cut]

    def prepare(self, pipe, req, part: Randomize) -> None:
        self.randomized(pipe, part.cut)     # from the intact weights, before an ablation zeroes any

    def step(self, pipe, job, part: Randomize) -> Twin | None:
        from ..core.sanity import spearman, ssim
        if job.unit is None:
            return None
        an, names = self.randomized(pipe, part.cut)
        target = ClassTarget(job.unit.channel) if job.unit.layer == LOGITS else job.unit
        try:
            twin = job.method.reconstruct(an, an.forward(job.x), [target]).images[0].numpy()
        except AttributionError:
            return None
        rec = job.recon
        job.lap("sanity")
        return Twin(twin, names, (spearman(np.abs(rec), np.abs(twin)), spearman(rec, twin), ssim(rec, twin)))

    def slots(self, v, r):
        part = r.part(self.name)
        if part is None or r.error or (r.inactive and as_method(r.request.method).zero_when_inactive):
            return {}
        caption = f"randomized from {part.layers[0]} up"
        if not np.any(part.recon):
            return {1: Slot(caption, note="zero: inactive in the random copy", warn=True)}
        twin = part.recon
        u = r.unit
        if v.zoom and u is not None and u.layer == v.layer.name and v.layer.rf is not None:
            twin = images.cut_box(twin, v.layer.rf.box(u.y, u.x))[0]
        # the randomized copy's map at its own scale (its magnitude is arbitrary)
        return {1: Slot(caption, images.signed_rgb(twin, images.robust_scale(twin)))}

    def lines(self, v, r):
        part = r.part(self.name)
        if part is None:
            return []
        a, sg, ss = part.similarity
        hidden = " (under G's maps)" if r.part("class_maps") else ""
        return [(f"X: vs a copy random from {part.layers[0]} up{hidden}", f"X: vs random from {part.layers[0]} up"
                 + (" (under G)" if hidden else "")),
                f"SSIM {ss:.2f}, Spearman |map| {a:.2f}, signed {sg:.2f}"]
