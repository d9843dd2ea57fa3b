"""G: every registered class map (core/methods.CLASS_MAPS: Grad-CAM and guided Grad-CAM) of the top class at
the selected layer, in the unit panel's two image slots."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import methods
from ..core.attribution import AttributionError
from ..render import images
from .base import Slot, Toggle


@dataclass(frozen=True)
class Ask:
    layer: str


@dataclass(frozen=True)
class ClassMapsPart:
    maps: dict            # name -> (h, w) map in [0, 1] or a signed (c, h, w) image
    cls: int = -1         # the class they explain (the top one)
    error: str = ""


class ClassMaps(Toggle):
    name, title = "class_maps", "class maps"
    key, help, label = ("g",), "Grad-CAM and guided Grad-CAM for the top class", "G Grad-CAM"

    def request(self, session, grid):
        return Ask(session.info.name) if self.on(session) else None

    def step(self, pipe, job, part: Ask) -> ClassMapsPart:
        # on its own: Grad-CAM needs no ReLU where the unit's method failed for the lack of one
        top = int(job.fp.logits.detach()[0].argmax())
        maps: dict = {}
        try:
            for m in methods.CLASS_MAPS:       # read now: one registered later is in it
                maps.update(m.maps(job.analyzer, job.fp, top, part.layer))
        except AttributionError as e:
            return ClassMapsPart({}, top, str(e))
        job.lap("grad-cam")
        return ClassMapsPart(maps, top)

    def images(self, r, part: ClassMapsPart) -> list[tuple[str, np.ndarray]]:
        out = []
        for name, m in part.maps.items():   # (h, w) maps over the input, (c, h, w) images signed
            if m.ndim == 2:
                out.append((name, (0.5 * r.model_image + 0.5 * images.colormap(m, 1.0, "viridis")).astype(np.uint8)))
            else:
                out.append((name, images.signed_rgb(m, images.robust_scale(m))))
        return out

    def slots(self, v, r):
        part = r.part(self.name)
        if part is None or not part.maps:
            return {}
        cls = v.session.classes[part.cls] if part.cls < len(v.session.classes) else str(part.cls)
        made = self.images(r, part)
        out = {k: Slot(f"{name}: {cls}" if k == 0 else name, img) for k, (name, img) in enumerate(made[:2])}
        if len(made) == 1:   # guided Grad-CAM needs ReLUs to guide (a SiLU network has none)
            out[1] = Slot("", note="no ReLU to guide", warn=True)
        return out

    def method_label(self, session) -> str:
        return "Grad-CAM (G)" if self.on(session) else ""

    def lines(self, v, r):
        part = r.part(self.name)
        if part is None or not part.maps:
            return [f"Grad-CAM: {part.error}"] if part is not None and part.error else []
        return [f"{', '.join(m.label for m in methods.CLASS_MAPS)} at {v.layer.name}"]
