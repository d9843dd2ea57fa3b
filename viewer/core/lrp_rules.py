"""The LRP rules for a linear layer (a convolution or a dense layer), and the composites that assign them.

A linear layer maps inputs a_j to z_k = sum_j a_j w_jk + b_k; R_k is the relevance arriving at output k. Each
rule below is written with two operations of the layer: `out(a, w, b)`, the layer's own forward with modified
inputs or parameters, and `back(s, w)`, the transpose of its linear map (the gradient of sum_k s_k z_k with
respect to a, for weights w). stab(z) = z + eps * sign(z), with sign(0) = +1 (zennit's stabilizer). The formulas
and a worked example are in docs/definitions.md; the code follows zennit 0.5.1's rules term for term (it is the
reference the tests compare against), including which terms keep the bias:

    LRP-0      R_j = a_j * back(R / z, w)                   (a zero z passes nothing)
    epsilon    R_j = a_j * back(R / stab_eps(z), w)
    z+         z+ = out(a+, w+, b+) + out(a-, w-, 0);  R_j = a+_j back(R/z+, w+) + a-_j back(R/z+, w-)
    alpha-beta like z+ for the positive part (times alpha) minus the negative part (times beta)
    gamma      weights w + gamma w+ where z > 0, w + gamma w- where z < 0 (zennit's generalized form)
    zB         z = out(a, w, b) - out(l, w+, b+) - out(h, w-, b-);  R_j = a_j back(s, w) - l_j back(s, w+) - h_j back(s, w-)
    flat       z = out(1, 1, 0);  R_j = back(R / z, 1)      (spread evenly over the inputs each output sees)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

STABILIZER = 1e-6   # zennit's default for every rule's denominator (and epsilon's)


def stab(z: torch.Tensor, eps: float) -> torch.Tensor:
    """z + eps * sign(z), sign(0) = +1."""
    return z + eps * ((z == 0).to(z) + z.sign())


class Layer:
    """One linear call of the forward pass, as the rules need it: out(a, w, b) and back(s, w) around its input a
    (fixed), weight w and bias b (BatchNorm merged in where one follows: core/lrp.py)."""

    def __init__(self, a: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,
                 call: Callable, transpose: Callable):
        self.a, self.w, self.b = a, w, (b if b is not None else torch.zeros(w.shape[0], dtype=w.dtype))
        self._call, self._transpose = call, transpose

    def out(self, a: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return self._call(a, w, b)

    def back(self, s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self._transpose(s, w)


def _pos(t: torch.Tensor) -> torch.Tensor:
    return t.clamp(min=0)


def _neg(t: torch.Tensor) -> torch.Tensor:
    return t.clamp(max=0)


@dataclass(frozen=True)
class Rule:
    """One LRP rule for linear layers; `relevance(layer, R)` is R_j for the layer's input."""
    name: str
    label: str
    kind: str                    # "epsilon", "zplus", "alphabeta", "gamma", "zbox", "flat"
    eps: float = STABILIZER      # the denominator's stabilizer (epsilon's epsilon; 0: LRP-0)
    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.25
    bounds: tuple = field(default=(), compare=False)   # zB: (low, high) pixel bounds, broadcast to the input

    def relevance(self, L: Layer, r: torch.Tensor) -> torch.Tensor:
        a, w, b, e = L.a, L.w, L.b, self.eps
        if self.kind == "epsilon":
            z = L.out(a, w, b)
            s = r / stab(z, e) if e > 0 else torch.where(z == 0, torch.zeros_like(z), r / z)
            return a * L.back(s, w)
        if self.kind in ("zplus", "alphabeta"):
            ap, an, wp, wn = _pos(a), _neg(a), _pos(w), _neg(w)
            sp = r / stab(L.out(ap, wp, _pos(b)) + L.out(an, wn, None), e)
            rel = ap * L.back(sp, wp) + an * L.back(sp, wn)
            if self.kind == "zplus" or self.beta == 0:
                return self.alpha * rel
            sn = r / stab(L.out(ap, wn, _neg(b)) + L.out(an, wp, None), e)
            return self.alpha * rel - self.beta * (ap * L.back(sn, wn) + an * L.back(sn, wp))
        if self.kind == "gamma":
            ap, an, g = _pos(a), _neg(a), self.gamma
            wup, wdn, bup, bdn = w + g * _pos(w), w + g * _neg(w), b + g * _pos(b), b + g * _neg(b)
            z = L.out(a, w, b)
            sp = (z > 0).to(r) * r / stab(L.out(ap, wup, bup) + L.out(an, wdn, None), e)
            sn = (z < 0).to(r) * r / stab(L.out(ap, wdn, bdn) + L.out(an, wup, None), e)
            return ap * L.back(sp, wup) + an * L.back(sp, wdn) + ap * L.back(sn, wdn) + an * L.back(sn, wup)
        if self.kind == "zbox":
            low, high = (torch.as_tensor(v, dtype=a.dtype).expand_as(a) for v in self.bounds)
            wp, wn = _pos(w), _neg(w)
            s = r / stab(L.out(a, w, b) - L.out(low, wp, _pos(b)) - L.out(high, wn, _neg(b)), e)
            return a * L.back(s, w) - low * L.back(s, wp) - high * L.back(s, wn)
        if self.kind == "flat":
            ones = torch.ones_like(w)
            s = r / stab(L.out(torch.ones_like(a), ones, None), e)
            return L.back(s, ones)
        raise ValueError(f"unknown LRP rule kind {self.kind!r}")

    def with_bounds(self, low, high) -> "Rule":
        return Rule(self.name, self.label, self.kind, self.eps, self.alpha, self.beta, self.gamma, (low, high))


LRP0 = Rule("lrp0", "LRP-0", "epsilon", eps=0.0)
EPSILON = Rule("epsilon", "epsilon", "epsilon")
ZPLUS = Rule("zplus", "z+", "zplus")
ALPHA2BETA1 = Rule("alpha2beta1", "alpha2-beta1", "alphabeta", alpha=2.0, beta=1.0)
ALPHA1BETA0 = Rule("alpha1beta0", "alpha1-beta0", "alphabeta", alpha=1.0, beta=0.0)
GAMMA = Rule("gamma", "gamma", "gamma")
ZBOX = Rule("zbox", "zB", "zbox")
FLAT = Rule("flat", "flat", "flat")
RULES = (LRP0, EPSILON, ZPLUS, ALPHA2BETA1, ALPHA1BETA0, GAMMA, ZBOX, FLAT)


@dataclass(frozen=True)
class Composite:
    """Rules by layer kind and position, as zennit's composites assign them: `first` on the first linear call
    of the pass when it is one of `first_kinds` ("conv", "linear"), `conv` on convolutions, `dense` on dense
    layers. Everything else is the same in every composite (core/lrp.py): ReLU passes relevance on, BatchNorm is
    merged into the linear layer before it, max-pooling routes to the argmax, average pooling and additions
    split in proportion to each input's contribution."""
    name: str           # the method's name: --method lrp-epsilon-plus-flat
    label: str          # in captions
    conv: Rule
    dense: Rule
    first: Rule | None = None
    first_kinds: tuple[str, ...] = ()

    def rule_for(self, kind: str, first: bool) -> Rule:
        if first and self.first is not None and kind in self.first_kinds:
            return self.first
        return self.conv if kind == "conv" else self.dense


EPSILON_PLUS_FLAT = Composite("lrp-epsilon-plus-flat", "LRP eps+ flat", ZPLUS, EPSILON, FLAT, ("conv", "linear"))
EPSILON_GAMMA_BOX = Composite("lrp-epsilon-gamma-box", "LRP eps gamma zB", GAMMA, EPSILON, ZBOX, ("conv",))
EPSILON_ALPHA2_BETA1 = Composite("lrp-epsilon-alpha2-beta1", "LRP eps a2b1", ALPHA2BETA1, EPSILON)
EPSILON_PLUS = Composite("lrp-epsilon-plus", "LRP eps+", ZPLUS, EPSILON)
LRP_ZERO = Composite("lrp-0", "LRP-0", LRP0, LRP0)
COMPOSITES = (EPSILON_PLUS_FLAT, EPSILON_GAMMA_BOX, EPSILON_ALPHA2_BETA1, EPSILON_PLUS, LRP_ZERO)
