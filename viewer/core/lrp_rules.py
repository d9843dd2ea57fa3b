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
                 call: Callable, transpose: Callable, inside: torch.Tensor | None = None):
        self.a, self.w, self.b = a, w, (b if b is not None else torch.zeros(w.shape[0], dtype=w.dtype))
        self._call, self._transpose = call, transpose
        self.inside = inside   # a window of the input (lrp_cone.py): 1 inside the tensor, 0 in its padding
        self.parts: dict[str, torch.Tensor] = {}

    def part(self, name: str, make: Callable) -> torch.Tensor:
        """A tensor made from the weights alone (w+, w-, gamma's w + gamma w+, ...), made once per Layer's parts:
        lrp_cone.py hands every frame's Layer the same parts while the weights stay the same."""
        if name not in self.parts:
            self.parts[name] = make()
        return self.parts[name]

    def ones(self) -> torch.Tensor:
        """1 at every input position (in a window: only those inside the tensor)."""
        return torch.ones_like(self.a) if self.inside is None else self.inside.expand_as(self.a)

    def out(self, a: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return self._call(a, w, b)

    def back(self, s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self._transpose(s, w)


def _pos(t: torch.Tensor) -> torch.Tensor:
    return t.clamp(min=0)


def _neg(t: torch.Tensor) -> torch.Tensor:
    return t.clamp(max=0)


@dataclass(frozen=True)
class Term:
    """One term of a rule's linear map: m * back(c * R, w). m: input-shaped multiplier (None: 1); c: output-shaped
    factor (the stabilized denominator's inverse, times a mask); w: the weights the transpose runs with."""
    m: torch.Tensor | None | "_Absent"
    c: torch.Tensor
    w: torch.Tensor


def _nonzero(terms: list[Term]) -> list[Term]:
    """The terms without those whose multiplier is absent (a- where the input has no negative value)."""
    return [t for t in terms if not isinstance(t.m, _Absent)]


class _Absent:
    """a- of an input without negative values: its terms are left out."""


def _plus(z: torch.Tensor, an, w: torch.Tensor, L) -> torch.Tensor:
    return z if an is None else z + L.out(an, w, None)


def _times(k: float, t):
    return _Absent() if t is None else k * t


def apply_terms(terms: list[Term], r: torch.Tensor, back: Callable) -> torch.Tensor:
    """R_j = sum over the terms of m * back(c * R, w)."""
    out = None
    for t in terms:
        part = back(t.c * r, t.w)
        part = part if t.m is None else t.m * part
        out = part if out is None else out + part
    return out


@dataclass(frozen=True)
class Rule:
    """One LRP rule for linear layers; `relevance(layer, R)` is R_j for the layer's input, `terms(layer)` the same
    as a linear map of R (computed once per frame)."""
    name: str
    label: str
    kind: str                    # "epsilon", "zplus", "alphabeta", "gamma", "zbox", "flat"
    eps: float = STABILIZER      # the denominator's stabilizer (epsilon's epsilon; 0: LRP-0)
    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.25
    bounds: tuple = field(default=(), compare=False)   # zB: (low, high) pixel bounds, broadcast to the input

    def relevance(self, L: Layer, r: torch.Tensor) -> torch.Tensor:
        return apply_terms(self.terms(L), r, L.back)

    def terms(self, L: Layer) -> list["Term"]:
        """The rule as a linear map of R, fixed once the forward is: R_j = sum over terms of m * back(c * R, w).
        Computed once per frame; every seed's backward then costs what a gradient costs (the cone runs them on
        windows: lrp_cone.py). Terms whose m is zero everywhere (a- after a ReLU) are left out."""
        a, w, b, e = L.a, L.w, L.b, self.eps
        neg = bool((a < 0).any())   # after a ReLU a- = 0: its terms (a convolution each) are left out
        if self.kind == "epsilon":
            z = L.out(a, w, b)
            c = 1 / stab(z, e) if e > 0 else torch.where(z == 0, torch.zeros_like(z), 1 / z)
            return _nonzero([Term(a, c, w)])
        if self.kind in ("zplus", "alphabeta"):
            wp, wn = L.part("w+", lambda: _pos(w)), L.part("w-", lambda: _neg(w))
            ap, an = (a, None) if not neg else (_pos(a), _neg(a))
            cp = 1 / stab(_plus(L.out(ap, wp, L.part("b+", lambda: _pos(b))), an, wn, L), e)
            terms = [Term(_times(self.alpha, ap), cp, wp), Term(_times(self.alpha, an), cp, wn)]
            if self.kind == "alphabeta" and self.beta != 0:
                cn = 1 / stab(_plus(L.out(ap, wn, L.part("b-", lambda: _neg(b))), an, wp, L), e)
                terms += [Term(-self.beta * ap, cn, wn), Term(_times(-self.beta, an), cn, wp)]
            return _nonzero(terms)
        if self.kind == "gamma":
            ap, an, g = (a, None, self.gamma) if not neg else (_pos(a), _neg(a), self.gamma)
            wup, wdn = L.part(f"w up {g}", lambda: w + g * _pos(w)), L.part(f"w down {g}", lambda: w + g * _neg(w))
            bup, bdn = L.part(f"b up {g}", lambda: b + g * _pos(b)), L.part(f"b down {g}", lambda: b + g * _neg(b))
            z = L.out(a, w, b)
            cp = (z > 0).to(z) / stab(_plus(L.out(ap, wup, bup), an, wdn, L), e)
            cn = (z < 0).to(z) / stab(_plus(L.out(ap, wdn, bdn), an, wup, L), e)
            return _nonzero([Term(ap, cp, wup), Term(_times(1, an), cp, wdn), Term(ap, cn, wdn),
                             Term(_times(1, an), cn, wup)])
        if self.kind == "zbox":
            low, high = (torch.as_tensor(v, dtype=a.dtype) * L.ones() for v in self.bounds)
            wp, wn = L.part("w+", lambda: _pos(w)), L.part("w-", lambda: _neg(w))
            bp, bn = L.part("b+", lambda: _pos(b)), L.part("b-", lambda: _neg(b))
            c = 1 / stab(L.out(a, w, b) - L.out(low, wp, bp) - L.out(high, wn, bn), e)
            return _nonzero([Term(a, c, w), Term(-low, c, wp), Term(-high, c, wn)])
        if self.kind == "flat":
            ones = L.part("ones", lambda: torch.ones_like(w))
            return [Term(L.inside, 1 / stab(L.out(L.ones(), ones, None), e), ones)]
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
