"""C: the target is the top class's logit instead of a unit (R: the channel's strongest position again); with
it, how much the map depends on the class: the Spearman rank correlation of |map| of the top and the second
class (Adebayo et al. 2018's class sensitivity)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.attribution import LOGITS, AttributionError, ClassTarget
from .base import Feature, Key


@dataclass(frozen=True)
class Ask:
    pass


@dataclass(frozen=True)
class SecondClass:
    spearman: float | None    # Spearman of |top class map| and |second class map|; None: one class only


class ClassTargetFeature(Feature):
    name, title = "class_target", "class target"

    def keys(self):
        return (Key(("c",), False, "target the top class logit (toggle)", self.toggle),
                Key(("r",), False, "target the channel's strongest position again", lambda s: s.strongest()))

    def toggle(self, session) -> None:
        from ..session import TargetMode
        session.target_mode = TargetMode.STRONGEST if session.target_mode is TargetMode.CLASS else TargetMode.CLASS
        session.scales.recon.reset()
        session.changed()

    def mode(self, session) -> str:
        return "class target: C" if session.target_mode.name == "CLASS" else ""

    def request(self, session, grid):
        return Ask() if session.target_mode.name == "CLASS" else None

    def step(self, pipe, job, part) -> SecondClass | None:
        from ..core.sanity import spearman
        if job.unit is None or job.unit.layer != LOGITS or job.fp.logits.shape[1] < 2:
            return None
        second = int(job.fp.logits.detach()[0].argsort(descending=True)[1])
        try:
            other = job.method.reconstruct(job.analyzer, job.fp, [ClassTarget(second)]).images[0].numpy()
        except AttributionError:
            return None
        job.lap("second class")
        return SecondClass(spearman(np.abs(job.recon), np.abs(other)))

    def lines(self, v, r):
        part = r.part(self.name)
        return [f"top vs 2nd class: Spearman |.| {part.spearman:.2f}"] if part is not None else []
