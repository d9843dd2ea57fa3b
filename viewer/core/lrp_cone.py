"""LRP through a unit's cone (as cone.py does for the ReLU rules): once the forward is fixed, every rule is a linear
map of the relevance, R_in = sum over terms of m * conv^T(c * R, w) (lrp_rules.Rule.terms), and a ReLU passes
relevance on. So a unit's relevance needs only the windows of its receptive field, layer by layer, and K units
run as one batch of K windows - the same work as guided backprop's cone, plus one multiply per term.

The terms are computed once per frame and composite over the whole tensors (a forward pass's worth of
convolutions: the z+ and flat denominators), from the frame's own traced pass (trace.Op keeps each convolution's
input). Max-pooling passes all of an output's relevance to its argmax (the forward's switches, as the LRP pass and
zennit do). Where the path to a layer is not a plain chain of conv2d / batch_norm (eval) / relu / max-pool /
identity, or the
pass ran in bf16, or a BatchNorm follows a ReLU, `lrp_plan` returns None and the caller runs the LRP pass
(lrp.py) instead; both are exact and equal (tests/test_lrp_rules.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .cone import Step
from .cone_windows import pool_t
from .lrp_rules import Composite, Layer, Rule, apply_terms
from .targets import AttributionError
from .trace import Op, chain_to


@dataclass(frozen=True)
class LrpStep:
    """One convolution of the cone, backward: its input a (the whole tensor), its weights with the BatchNorms it
    feeds merged in, its rule, and the window sizes at its output and input (the margins of the padded terms)."""
    a: torch.Tensor
    w: torch.Tensor
    b: torch.Tensor
    parts: dict      # made from w and b alone, kept with them across frames (lrp_rules.Layer.part)
    rule: Rule
    stride: int
    padding: int
    dilation: int
    groups: int
    margin_out: int
    margin_in: int
    key: tuple       # where the frame's padded terms are kept (ForwardPass.lrp)


@dataclass(frozen=True)
class LrpPlan:
    steps: tuple[LrpStep | Step, ...]   # a convolution's terms, or a max-pool's switches (cone.Step)
    channels: int      # of the seeded tensor
    cache: dict = field(repr=False, compare=False, default_factory=dict)   # the frame's (ForwardPass.lrp)
    pools: dict = field(repr=False, compare=False, default_factory=dict)   # this plan's padded max-pool indices


MAX_WEIGHTS = 256   # merged weights kept per analyzer across frames (a network has one or two per convolution)


def merged_weights(op: Op, bns: list[tuple], cache: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(weight, bias, parts) of the convolution with the BatchNorms it feeds merged in, kept across frames while the
    source tensors are the same objects at the same versions (as cone.fold_weight does); parts: what the rules
    make from the weights alone (lrp_rules.Layer.part), made once."""
    sources = tuple(t for t in (op.params[0], op.params[5], *(u for bn in bns for u in bn)) if torch.is_tensor(t))
    key = tuple(id(t) for t in sources) + tuple(bn[2] for bn in bns)
    versions = tuple(t._version for t in sources)
    hit = cache.get(key)
    if hit is not None and hit[1] == versions and all(a is b for a, b in zip(hit[0], sources)):
        return hit[2]
    if len(cache) > MAX_WEIGHTS:
        cache.clear()
    cache[key] = (sources, versions, (*_merged(op, bns), {}))
    return cache[key][2]


def _merged(op: Op, bns: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    """The convolution's weight and bias with the BatchNorms it feeds merged in (nearest first), detached."""
    w, bias = op.params[0].detach(), op.params[5]
    b = bias.detach() if bias is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
    for weight, var, eps, mean, beta in reversed(bns):
        if mean is None:
            raise _NotAChain
        scale = (weight.detach() if weight is not None else 1.0) / torch.sqrt(var.detach() + eps)
        w = w * scale.reshape(-1, 1, 1, 1)
        b = b * scale + (beta.detach() if beta is not None else 0.0) - mean.detach() * scale
    return w, b


class _NotAChain(Exception):
    pass


def _rule(composite: Composite, first: bool, bounds) -> Rule:
    rule = composite.rule_for("conv", first)
    if rule.kind == "zbox":
        if bounds is None:
            raise AttributionError("the zB rule needs the input's pixel bounds (the model's normalisation)")
        rule = rule.with_bounds(*bounds)
    return rule


def lrp_plan(ops: dict[int, Op], x: torch.Tensor, out: torch.Tensor, composite: Composite, bounds,
             cache: dict, weights: dict | None = None) -> LrpPlan | None:
    """The layer's LRP cone for this frame, or None where the path to it is not one the cone runs. cache: the
    frame's (ForwardPass.lrp), where each convolution's frame-wide terms are kept; weights: the merged weights,
    kept across frames (Analyzer.lrp_weights)."""
    weights = {} if weights is None else weights
    chain = chain_to(ops, id(x), id(out)) if out.dim() == 4 else None
    if not chain:
        return None
    convs, bns = [], []
    for op in chain:   # backward order
        if op.kind == "bn":
            bns.append(op.params)
        elif op.kind == "conv":
            convs.append((op, bns))
            bns = []
        elif op.kind in ("relu", "maxpool") and bns:   # a BatchNorm not right after a convolution: the LRP pass
            return None
        elif op.kind == "maxpool":
            convs.append((op, None))
        elif op.kind not in ("relu", "identity"):
            return None
    if bns or not any(b is not None for _, b in convs):
        return None
    last = max(i for i, (_, b) in enumerate(convs) if b is not None)   # the first convolution of the forward
    steps, size = [], 1
    for i, (op, bs) in enumerate(convs):
        if bs is None:   # max-pooling: all of an output's relevance to its argmax (the forward's switches)
            k, stride, padding, dil, ceil = op.params
            a, version = op.inp
            if a._version != version or a.dtype != torch.float32:
                return None
            _, idx = F.max_pool2d(a.detach(), k, stride, padding, dil, ceil, return_indices=True)
            steps.append(Step("maxpool", idx[0], size, stride, padding, dil, 1, op.in_shape[1:], kernel=k))
            size = max((size - 1) * stride[j] + dil[j] * (k[j] - 1) + 1 for j in range(2))
            continue
        w, stride, padding, dilation, groups, _ = op.params
        a, version = op.inp
        k = w.shape[2]
        if a.dtype != torch.float32 or a._version != version or w.shape[3] != k or len(set(stride)) > 1 or \
                len(set(padding)) > 1 or len(set(dilation)) > 1 or padding[0] > dilation[0] * (k - 1):
            return None   # a bf16 pass, an input changed in place, non-square or over-wide: the LRP pass does it
        size_in = (size - 1) * stride[0] + dilation[0] * (k - 1) + 1
        try:
            merged = merged_weights(op, bs, weights)
        except _NotAChain:
            return None
        rule = _rule(composite, i == last, bounds)
        steps.append(LrpStep(a.detach(), *merged, rule, stride[0], padding[0], dilation[0], groups, size,
                             size_in, ("cone-terms", composite.name, op.output_id, bool(bs), size)))
        size = size_in
    first = chain[0]
    channels = first.params[0].shape[0] if first.kind == "conv" else first.in_shape[0]
    return LrpPlan(tuple(steps), channels, cache)


def _frame_terms(st: LrpStep, cache: dict) -> tuple:
    """The step's terms over the whole tensors, c and m zero-padded by the window margins: (c_pad, w, m_pad)."""
    if st.key not in cache:
        shape = st.a.shape

        def call(x, w, b):
            return F.conv2d(x, w, b, st.stride, st.padding, st.dilation, st.groups)

        def back(s, w):
            return torch.nn.grad.conv2d_input(shape, w, s, st.stride, st.padding, st.dilation, st.groups)
        layer = Layer(st.a, st.w, st.b, call, back)
        layer.parts = st.parts
        terms = st.rule.terms(layer)
        cache[st.key] = tuple((_pad(t.c, st.margin_out), t.w, _pad(t.m if t.m is not None else torch.ones(shape),
                                                                     st.margin_in)) for t in terms)
    return cache[st.key]


def _crop(t: torch.Tensor, y: int, x: int, h: int, w: int) -> torch.Tensor:
    """t[:, :, y:y+h, x:x+w] of a (1, C, H, W) tensor, zeros where the window leaves it."""
    H, W = t.shape[-2:]
    top, left, bottom, right = max(0, y), max(0, x), min(H, y + h), min(W, x + w)
    if (top, left, bottom, right) == (y, x, y + h, x + w):
        return t[:, :, y:y + h, x:x + w]
    out = t.new_zeros((1, t.shape[1], h, w))
    if top < bottom and left < right:
        out[:, :, top - y:bottom - y, left - x:right - x] = t[:, :, top:bottom, left:right]
    return out


def _one_unit(plan: LrpPlan, channel: int, y: int, x: int) -> tuple[torch.Tensor, int, int]:
    """One unit with the terms computed on its windows only (a sixth of the frame for a conv6 unit of All-CNN-C):
    the rule's own code on a window of the input, zero outside the tensor as the convolution's padding is."""
    r = torch.zeros((1, plan.channels, 1, 1))
    r[0, channel, 0, 0] = 1.0
    for st in plan.steps:
        if isinstance(st, Step):   # max-pooling
            r = pool_t(r, st, torch.tensor([y]), torch.tensor([x]), {})
            y, x = y * st.stride[0] - st.padding[0], x * st.stride[1] - st.padding[1]
            continue
        ny, nx = y * st.stride - st.padding, x * st.stride - st.padding
        n = st.margin_in
        a = _crop(st.a, ny, nx, n, n)
        inside = _crop(torch.ones((1, 1, *st.a.shape[-2:])), ny, nx, n, n)

        def call(t, w, b, st=st):
            return F.conv2d(t, w, b, st.stride, 0, st.dilation, st.groups)

        def back(s, w, st=st):
            return F.conv_transpose2d(s, w, stride=st.stride, dilation=st.dilation, groups=st.groups)
        layer = Layer(a, st.w, st.b, call, back, inside)
        layer.parts = st.parts
        r = apply_terms(st.rule.terms(layer), r, back)
        y, x = ny, nx
    return r, y, x


def _pad(t: torch.Tensor, m: int) -> torch.Tensor:
    return F.pad(t.detach().float(), (m, m, m, m)).contiguous()


def _windows(padded: torch.Tensor, m: int, oy: torch.Tensor, ox: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """padded[0, :, y:y+h, x:x+w] at K origins (in the unpadded tensor's coordinates): (K, C, h, w)."""
    if len(oy) == 1:
        y, x = int(oy[0]) + m, int(ox[0]) + m
        return padded[:, :, y:y + h, x:x + w]
    c, hp, wp = padded.shape[1:]
    rows = padded[0].reshape(c, hp * wp)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    lin = ((oy + m)[:, None, None] + ar_h[None, :, None]) * wp + (ox + m)[:, None, None] + ar_w[None, None, :]
    return rows.index_select(1, lin.flatten()).view(c, len(oy), h, w).transpose(0, 1)


def lrp_cone_backward(plan: LrpPlan, channels: list[int], ys: list[int], xs: list[int],
                      input_shape: tuple[int, int, int]) -> torch.Tensor:
    """Input relevance (K, C, H, W) of K units of the plan's layer, each seeded with relevance 1 (the caller
    scales by the unit's value: the map is linear)."""
    k = len(channels)
    keys = [st.key for st in plan.steps if isinstance(st, LrpStep)]
    if k == 1 and keys[0] not in plan.cache:   # one unit of a new frame: its windows only
        r, y, x = _one_unit(plan, channels[0], ys[0], xs[0])
        oy, ox = torch.tensor([y]), torch.tensor([x])
        return _paste(r, oy, ox, input_shape)
    ch = torch.tensor(channels)
    oy, ox = torch.tensor(ys), torch.tensor(xs)
    r = None
    for st in plan.steps:
        if isinstance(st, Step):   # max-pooling
            if r is None:
                r = torch.zeros((k, plan.channels, 1, 1))
                r[torch.arange(k), ch, 0, 0] = 1.0
            r = pool_t(r, st, oy, ox, plan.pools)   # per plan: keyed by id(step), which a freed plan reuses
            oy, ox = oy * st.stride[0] - st.padding[0], ox * st.stride[1] - st.padding[1]
            continue
        s, d = st.stride, st.dilation
        ny, nx = oy * s - st.padding, ox * s - st.padding
        out = None
        for c_pad, w, m_pad in _frame_terms(st, plan.cache):
            if r is None:   # the seed is one-hot on a 1x1 window: conv^T is the seeded channel's weight slice
                cval = c_pad[0, ch, oy + st.margin_out, ox + st.margin_out]
                if st.groups == 1 and st.dilation == 1:
                    part = w.index_select(0, ch) * cval.view(k, 1, 1, 1)
                else:
                    seed = torch.zeros((k, c_pad.shape[1], 1, 1))
                    seed[torch.arange(k), ch, 0, 0] = cval
                    part = F.conv_transpose2d(seed, w, stride=s, dilation=d, groups=st.groups)
            else:
                h, wd = r.shape[-2:]
                part = F.conv_transpose2d(r * _windows(c_pad, st.margin_out, oy, ox, h, wd), w, stride=s,
                                          dilation=d, groups=st.groups)
            h, wd = part.shape[-2:]
            part = part * _windows(m_pad, st.margin_in, ny, nx, h, wd)   # zero in the padding: dropped there
            out = part if out is None else out + part
        r, oy, ox = out, ny, nx
    return _paste(r, oy, ox, input_shape)


def _paste(r: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, input_shape) -> torch.Tensor:
    """K windows of the input (origins oy, ox) onto (K, C, H, W), what lies outside the input dropped."""
    k = len(r)
    c, H, W = input_shape
    h, w = r.shape[-2:]
    m = max(h, w)
    canvas = torch.zeros((k, c, H + 2 * m, W + 2 * m))
    for i in range(k):   # K pastes of a window (W: a few hundred), each a strided add
        canvas[i, :, int(oy[i]) + m:int(oy[i]) + m + h, int(ox[i]) + m:int(ox[i]) + m + w] += r[i]
    return canvas[:, :, m:m + H, m:m + W]


__all__ = ["LrpPlan", "lrp_cone_backward", "lrp_plan"]
