"""The reconstruction methods and class maps the viewer offers: the registries the whole tool reads.

    method = method_named("guided")
    att = method.reconstruct(analyzer, fp, [ChannelTarget("conv6", 12)])   # Attribution, (K, C, H, W)

Gradient, deconvnet and guided backprop are one class, `ReluRule`, parameterised by the ReLU backward rule
(rules.Method, whose uses_mask / clamps are the rule as data), as Captum's shared base does. Each other method
lives in a file of its own (gradcam.py) against the protocols of protocols.py. The app cycles through METHODS
(key B), the command line offers their names (--method), the atlas stores each one's reconstructions, the
sanity report (python -m viewer.sanity) compares each one and each CLASS_MAPS entry; the worker, the panes
and the export only use the protocol: `value` (the name), `label`, `zero_when_inactive` and `reconstruct`.
A new method (Integrated Gradients, an LRP rule) is one class in a file of its own plus one entry here.
Read the registries when they are used (methods.METHODS), not at import: a method registered later is in them.
"""
from __future__ import annotations

from .attribution import Analyzer, Attribution, ForwardPass, Target
from .gradcam import GradCam
from .lrp_method import Lrp
from .lrp_rules import EPSILON_ALPHA2_BETA1, EPSILON_GAMMA_BOX, EPSILON_PLUS_FLAT
from .protocols import AttributionMethod, ClassMapMethod
from .rules import Method


class ReluRule(AttributionMethod):
    """Back-propagation with one of the ReLU rules: gradient, deconvnet or guided backprop."""

    def __init__(self, rule: Method):
        self.rule, self.value, self.label = rule, rule.value, rule.label
        self.zero_when_inactive = rule.uses_mask   # an inactive unit's own mask is 0; a rule without one ignores it

    def reconstruct(self, analyzer: Analyzer, fp: ForwardPass, targets: list[Target]) -> Attribution:
        return analyzer.attribute(fp, targets, self.rule)


GUIDED, DECONVNET, GRADIENT = ReluRule(Method.GUIDED), ReluRule(Method.DECONVNET), ReluRule(Method.GRADIENT)
LRP_METHODS = (Lrp(EPSILON_PLUS_FLAT), Lrp(EPSILON_GAMMA_BOX), Lrp(EPSILON_ALPHA2_BETA1))   # core/lrp_rules.py
METHODS: tuple[AttributionMethod, ...] = (GUIDED, DECONVNET, GRADIENT, *LRP_METHODS)   # B cycles in this order

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
