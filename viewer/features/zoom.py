"""V: the unit's views enlarged to its receptive-field box (by default where the box is under a third of the
model input), so that a deep unit's 19x19 pixels are not a speck in a 224x224 image."""
from __future__ import annotations

import numpy as np

from ..render import images
from .base import Feature, Key


def zoomed(session) -> bool:
    """Whether the unit's views show its receptive-field box enlarged: V's choice, else by default where the
    box is under a third of the model input."""
    layer = session.info
    if layer.rf is None or session.target_mode.name == "CLASS":
        return False
    choice = session.part("zoom").choice
    if choice is not None:
        return choice
    r = session.result
    size = r.model_image.shape[:2] if r is not None and not r.failed else (0, 0)
    return images.zoom_default(layer.rf.size, size) if min(size) > 0 else False


def shown(session, recon: np.ndarray, unit) -> np.ndarray:
    """The part of a reconstruction that is shown: the unit's box where zoomed, else all of it."""
    if zoomed(session) and unit is not None and unit.layer == session.info.name:
        return images.cut_box(recon, session.info.rf.box(unit.y, unit.x))[0]
    return recon


class ZoomState:
    def __init__(self):
        self.choice: bool | None = None   # V's choice; None: by default (images.zoom_default)


class Zoom(Feature):
    name, title = "zoom", "receptive-field zoom"

    def keys(self):
        return (Key(("v",), False, "zoom to the unit's receptive field (toggle)", self.toggle),)

    def initial(self, options):
        return ZoomState()

    def toggle(self, session) -> None:
        session.part(self.name).choice = not zoomed(session)
        session.scales.recon.reset()       # the box and the whole input have different scales
        session.changed()

    def mode(self, session) -> str:
        return "zoomed to the receptive field: V" if zoomed(session) else ""
