"""The reconstruction methods the viewer offers, as one small protocol and a registry.

    method = method_named("guided")
    att = method.reconstruct(analyzer, fp, [ChannelTarget("conv6", 12)])   # Attribution, (K, C, H, W)

Gradient, deconvnet and guided backprop are one class, `ReluRule`, parameterised by the ReLU backward
rule (rules.py; docs/definitions.md section 1), as Captum's shared base does. The app cycles through
METHODS (key B), the command line offers their names (--method), and the worker, the panes and the export
only use the protocol: `value` (the name), `label`, `zero_when_inactive` and `reconstruct`. A new method
(Integrated Gradients, an LRP rule) is one class here or in a file of its own, plus one entry in METHODS.
"""
from __future__ import annotations

from .attribution import Analyzer, Attribution, AttributionError, ClassTarget, ForwardPass, Target
from .rules import Method


class AttributionMethod:
    """One way to reconstruct what in the input drives a target: signed images the size of the input."""

    value: str = ""                   # the name on the command line and in saved JSON
    label: str = ""                   # the name in captions
    zero_when_inactive: bool = True   # a unit with activation 0 gets an exactly zero image (the UI says so)

    def reconstruct(self, analyzer: Analyzer, fp: ForwardPass, targets: list[Target]) -> Attribution:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<method {self.value}>"


class ReluRule(AttributionMethod):
    """Back-propagation with one of the three ReLU rules: gradient, deconvnet or guided backprop."""

    def __init__(self, rule: Method):
        self.rule, self.value, self.label = rule, rule.value, rule.label
        self.zero_when_inactive = rule is not Method.DECONVNET  # deconvnet ignores the forward masks

    def reconstruct(self, analyzer: Analyzer, fp: ForwardPass, targets: list[Target]) -> Attribution:
        return analyzer.attribute(fp, targets, self.rule)


GUIDED, DECONVNET, GRADIENT = ReluRule(Method.GUIDED), ReluRule(Method.DECONVNET), ReluRule(Method.GRADIENT)
METHODS: tuple[AttributionMethod, ...] = (GUIDED, DECONVNET, GRADIENT)   # B cycles in this order


class ClassMapMethod:
    """A view of what drives one class at a chosen layer, as named images: (H, W) maps in [0, 1] or signed
    (C, H, W) images. G shows every registered one (CLASS_MAPS) for the top class at the selected layer; the
    Result carries them by name (Result.class_maps) and the unit panel draws them in order. A new one (a
    Score-CAM, a layer-wise relevance map of the class) is one class plus one entry in CLASS_MAPS."""

    value: str = ""
    label: str = ""

    def maps(self, analyzer: Analyzer, fp: ForwardPass, class_index: int, layer: str) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<class map {self.value}>"


class GradCam(ClassMapMethod):
    """Grad-CAM (Selvaraju et al. 2017) at the layer and guided Grad-CAM (guided backprop x the upsampled
    CAM); docs/definitions.md."""

    value, label = "gradcam", "Grad-CAM"

    def maps(self, analyzer: Analyzer, fp: ForwardPass, class_index: int, layer: str) -> dict:
        """Both maps; Grad-CAM alone where the model calls no ReLU (guided backprop has nothing to guide)."""
        cam = analyzer.cam(fp, class_index, layer)
        out = {"Grad-CAM": cam.numpy()}
        try:
            guided = analyzer.attribute(fp, [ClassTarget(class_index)], Method.GUIDED).images[0]
        except AttributionError:
            return out
        out["guided Grad-CAM"] = (guided * cam[None]).numpy()
        return out


GRADCAM = GradCam()
CLASS_MAPS: tuple[ClassMapMethod, ...] = (GRADCAM,)   # G computes each of these


def method_named(name: str) -> AttributionMethod:
    """The registered method of that name; ValueError with the known names otherwise."""
    for m in METHODS:
        if m.value == name:
            return m
    raise ValueError(f"unknown method '{name}' (known: {', '.join(m.value for m in METHODS)})")


def as_method(method: AttributionMethod | Method) -> AttributionMethod:
    """A registered method, also from a bare ReLU rule (Method.GUIDED -> the guided-backprop method)."""
    return method_named(method.value) if isinstance(method, Method) else method
