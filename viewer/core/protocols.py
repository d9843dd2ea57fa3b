"""What a method is, as two small protocols: one that reconstructs targets in the input, one that maps a class
at a layer. The implementations are methods.py (the ReLU rules) and one file per other method (gradcam.py);
methods.py holds the registries the tool reads (METHODS, CLASS_MAPS)."""
from __future__ import annotations

from .attribution import Analyzer, Attribution, ForwardPass, Target


class AttributionMethod:
    """One way to reconstruct what in the input drives a target: signed images the size of the input."""

    value: str = ""                   # the name on the command line and in saved JSON
    label: str = ""                   # the name in captions
    zero_when_inactive: bool = True   # a unit with activation 0 gets an exactly zero image (the UI says so)
    in_atlas: bool = True             # stored by `python -m viewer.atlas` unless --methods says otherwise
    relevance: bool = False           # its images are relevance (summed over colours, drawn red/blue; it conserves)

    def reconstruct(self, analyzer: Analyzer, fp: ForwardPass, targets: list[Target]) -> Attribution:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<method {self.value}>"


class ClassMapMethod:
    """A view of what drives one class at a chosen layer, as named images: (H, W) maps in [0, 1] or signed
    (C, H, W) images. G shows every registered one (CLASS_MAPS) for the top class at the selected layer; the
    Result carries them by name (Result.class_maps) and the unit panel draws them in order. A new one (a
    Score-CAM, a layer-wise relevance map of the class) is one class plus one entry in CLASS_MAPS."""

    value: str = ""                   # the name on the command line (python -m viewer.sanity --methods)
    label: str = ""

    def maps(self, analyzer: Analyzer, fp: ForwardPass, class_index: int, layer: str) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<class map {self.value}>"
