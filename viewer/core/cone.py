"""Fast exact reconstructions for convolutional chains: back-propagate only through a unit's cone.

A unit's reconstruction depends only on the activations inside its receptive field, layer by layer (its
"cone"): for an All-CNN-C conv6 unit a 3x3 window of conv5, 5x5 of conv4, ... 19x19 of the input, about a
sixth of the work of a full-size backward pass. Where the path from the input to a layer is a plain chain
of conv2d / batch_norm (eval) / relu / dropout (eval) calls, as traced during the forward pass, this
module runs the same ReLU rules by hand on those windows, for K units at once (K windows of equal size,
each with its own origin). Positions outside a tensor are padding: what lands there is dropped, exactly as
autograd drops it (by the ReLU mask below, which is 0 outside, or cleared where no mask follows). Anything
else (pooling, residual additions, ...) is not a chain (NotAChain): the caller falls back to autograd.
The ReLU rule is rules.apply_rule, in place on the cone's own tensors.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from .rules import Method, apply_rule
from .cone_windows import conv_t, gather_windows, grow, grown, pool_t, switches, window_mask
from .trace import Op


class NotAChain(ValueError):
    """The traced path to a layer is not one the cone runs by hand (the caller uses autograd there)."""


def _bn_scale(weight: torch.Tensor | None, var: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-channel factor of BatchNorm in eval mode: weight / sqrt(running_var + eps)."""
    w = weight.detach() if weight is not None else torch.ones_like(var)
    return w / torch.sqrt(var.detach() + eps)


@dataclass(frozen=True)
class Step:
    kind: str                    # "relu" or "conv"
    tensor: torch.Tensor         # relu: the forward input f (C, H, W); conv: weight with BN folded in
    margin: int = 0              # relu: how far a window can reach outside the tensor
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    in_hw: tuple[int, int] = (0, 0)
    clip: bool = True            # conv: zero the padding positions now (False: the ReLU mask below does)
    kernel: tuple[int, int] = (1, 1)   # maxpool: its window (tensor: the argmax of each output, flat in H x W)


@dataclass(frozen=True)
class ConePlan:
    """A layer's compiled cone: the backward-order steps, the seeded tensor's channel count, and the
    padded masks built for batches (filled on first use)."""
    steps: list[Step]
    channels: int
    masks: dict = field(default_factory=dict, repr=False)


MAX_FOLDED = 512   # folded weights kept per analyzer (a network has one per convolution)


def fold_weight(w: torch.Tensor, bns: list[tuple], cache: dict | None) -> torch.Tensor:
    """The convolution's weight with the BatchNorm scales above it folded in (R * s then conv^T(W) ==
    conv^T(W * s) per output channel). Weights do not change between frames: with a cache (held by the
    caller across forward passes) each fold is computed once per weight version."""
    sources = (w, *(t for bn in bns for t in bn[:2] if t is not None))
    key = tuple(id(t) for t in sources) + tuple(bn[2] for bn in bns)   # one entry per convolution
    versions = tuple(t._version for t in sources)                       # a weight changed in place: refold
    hit = cache.get(key) if cache is not None else None
    if hit is not None and hit[1] == versions and all(a is b for a, b in zip(hit[0], sources)):
        return hit[2]
    for bn in bns:
        w = w * _bn_scale(*bn).view(-1, 1, 1, 1)
    w = w.detach().contiguous()
    if cache is not None:
        if len(cache) > MAX_FOLDED:          # a model traced with new weight objects each time: start over
            cache.clear()
        cache[key] = (sources, versions, w)  # the sources are kept alive, so their ids are not reused
    return w


def compile_chain(chain: list[Op], weights: dict | None = None, images: bool = False,
                  pooled: dict | None = None) -> ConePlan:
    """Backward-order steps with each BatchNorm folded into the convolution below it, and each ReLU's
    forward input f (its mask 1[f > 0] is taken where a window needs it) with the margin its windows can
    reach outside the tensor. weights: a cache of folded weights that outlives this forward pass
    (fold_weight). images: keep every image of a batched forward (cone_backward's imgs then says whose
    masks and switches each unit's windows read), not only the first. pooled: max-pool switches shared by
    several plans of one pass (cone_windows.switches)."""
    pick = (lambda t: t) if images else (lambda t: t[0])
    steps: list[Step] = []
    bns: list[tuple] = []
    size = [1, 1]  # window size (h, w) at the current tensor, in backward order
    for op in chain:
        if op.kind == "bn":
            bns.append(op.params[:3])
        elif op.kind == "relu":
            if bns:  # BN directly above a ReLU, no conv below it: left to autograd
                raise NotAChain("unsupported order")
            f, version = op.params
            if f._version != version:  # changed in place after the relu read it: the mask is gone
                raise NotAChain("relu input modified in place")
            steps.append(Step("relu", pick(f.detach()), 0 if images else max(size)))
        elif op.kind == "maxpool":   # the switches: each output's relevance goes to its argmax, for every rule
            if bns:
                raise NotAChain("unsupported order")
            k, stride, padding, dil, ceil = op.params
            x, version = op.inp
            if x._version != version:
                raise NotAChain("pool input modified in place")
            idx = switches(x, (k, stride, padding, dil, ceil), pooled)
            margin = 0 if images else max(size)
            steps.append(Step("maxpool", pick(idx), margin, stride, padding, dil, 1, op.in_shape[1:], kernel=k))
            for a in range(2):
                size[a] = grown(size[a], stride[a], dil[a], k[a])
        elif op.kind == "conv":
            w, stride, padding, dil, groups = op.params[:5]
            w = fold_weight(w, bns, weights)
            bns = []
            steps.append(Step("conv", w, 0, stride, padding, dil, groups, op.in_shape[1:]))
            for a in range(2):
                size[a] = grown(size[a], stride[a], dil[a], w.shape[2 + a])
    if bns:
        raise NotAChain("unsupported order")
    # a convolution followed (below) by a ReLU needs no clipping of its padding positions: the ReLU's
    # mask is 0 outside the tensor (not for a rule that ignores the mask: _clears_padding checks)
    for i, st in enumerate(steps):
        if st.kind == "conv" and i + 1 < len(steps) and steps[i + 1].kind == "relu":
            steps[i] = replace(st, clip=False)
    first = chain[0]
    channels = first.params[0].shape[0] if first.kind == "conv" else first.in_shape[0]
    return ConePlan(steps, channels)


def cone_flops(plan: ConePlan) -> int:
    """Multiply-adds x 2 of one unit's backward through its cone: each transposed convolution counted over
    its input window (the first one counted too, though it runs as a gather). For a conv6 unit of
    All-CNN-C about 62 MFLOP, 60% of it conv2's over a 15x15 window of 96 channels."""
    h = w = 1
    total = 0
    for st in plan.steps:
        if st.kind == "conv":
            cout, cin_g, kh, kw = st.tensor.shape
            total += 2 * cout * cin_g * kh * kw * h * w
        h, w = grow(st, h, w)
    return total


def cone_backward(plan: ConePlan, channels: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
                  input_shape: tuple[int, int, int], method: Method, bf16: bool = False,
                  imgs: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstructions (K, C, H, W) of K units (channel, y, x) of the chain's last tensor, on the device of
    the chain's tensors (the model's: the index tensors may be on the CPU). imgs: each unit's image, where the
    plan was compiled from a batch of images (compile_chain(images=True))."""
    steps, c_out, cache = plan.steps, plan.channels, plan.masks
    k = len(channels)
    dev = steps[0].tensor.device
    if k == 1 and imgs is None:
        return _cone_one(steps, c_out, int(channels[0]), int(ys[0]), int(xs[0]), input_shape, method, dev)
    dtype = torch.bfloat16 if bf16 else torch.float32
    channels, ys, xs = channels.to(dev), ys.to(dev), xs.to(dev)
    img = imgs.to(dev).long() if imgs is not None else None
    # units with the same position (of the same image) share every window's origin: make them neighbours
    key = ys.long() * (int(xs.max()) + 1) + xs.long()
    if img is not None:
        key = key + img * (int(key.max()) + 1)
    _, group, counts = torch.unique(key, return_inverse=True, return_counts=True)
    order = torch.argsort(group, stable=True)                           # row i of r is unit order[i]
    channels, ys, xs = channels[order], ys[order], xs[order]
    img = img[order] if img is not None else None
    ends = counts.cumsum(0).tolist()
    groups = list(zip([0, *ends[:-1]], ends))                           # (first row, end row) per position
    kk = torch.arange(k, device=dev)
    r = torch.zeros((k, c_out, 1, 1), dtype=dtype, device=dev)
    r[kk, channels, 0, 0] = 1.0                                         # (K, C, 1, 1) one-hot seeds
    oy, ox = ys.long().clone(), xs.long().clone()                       # window origins, (K,)
    onehot = True                                                       # r is still v_k * e(channel_k)
    for i, st in enumerate(steps):
        h, w = r.shape[-2:]
        if st.kind == "maxpool":
            r = pool_t(r, st, oy, ox, cache, img)
            oy, ox = oy * st.stride[0] - st.padding[0], ox * st.stride[1] - st.padding[1]
            onehot = False
            continue
        if st.kind == "conv" and onehot and _gathers(st):
            # conv^T of a one-hot 1x1 signal is the seeded channel's weight slice: a gather, not a conv
            r = st.tensor.to(dtype).index_select(0, channels) * r[kk, channels, 0, 0].view(k, 1, 1, 1)
            oy, ox = oy * st.stride[0] - st.padding[0], ox * st.stride[1] - st.padding[1]
            r = _clip(r, oy, ox, st, method)
            onehot = False
            continue
        if st.kind == "conv":
            onehot = False
        if st.kind == "relu":
            if not method.uses_mask:  # the rule does not read the mask: no windows to gather
                r = apply_rule(None, r, method, inplace=True)
            elif len(groups) * 2 <= k and h * w * st.tensor.shape[0] >= 4096:
                # large windows shared by several units: gather each position's window once and apply the
                # rule to its rows in place (writing K gathered windows would cost more than the rule itself)
                first = torch.tensor([a for a, _ in groups], device=dev)
                at = img[first] if img is not None else None
                pos = gather_windows(st, cache, dtype, oy[first], ox[first], h, w, at)
                for g, (a, b) in enumerate(groups):
                    apply_rule(pos[g], r[a:b], method, inplace=True)
            else:
                r = apply_rule(gather_windows(st, cache, dtype, oy, ox, h, w, img), r, method, inplace=True)
                # outside the tensor the mask is False (or r was clipped to 0)
        else:
            r = conv_t(r.contiguous(memory_format=torch.channels_last), st.tensor.to(dtype), st)
            oy, ox = oy * st.stride[0] - st.padding[0], ox * st.stride[1] - st.padding[1]
            r = _clip(r, oy, ox, st, method)
    c, H, W = input_shape
    h, w = r.shape[-2:]
    m = max(h, w)
    canvas = torch.zeros((k, H + 2 * m, W + 2 * m, c), device=dev)     # channels last for one index_put
    iy = (oy + m)[:, None] + torch.arange(h, device=dev)
    ix = (ox + m)[:, None] + torch.arange(w, device=dev)
    canvas[order[:, None, None], iy[:, :, None], ix[:, None, :]] = r.permute(0, 2, 3, 1).float()  # back in order
    return canvas[:, m:m + H, m:m + W].permute(0, 3, 1, 2).contiguous()


def _gathers(st: Step) -> bool:
    return st.groups == 1 and st.dilation == (1, 1)


def _clears_padding(st: Step, method: Method) -> bool:
    """Whether the conv's padding positions must be zeroed by hand: unless a ReLU below does it with its mask
    (0 outside the tensor), which a rule that ignores the mask does not."""
    return st.clip or not method.uses_mask


def _clip(r: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, st: Step, method: Method) -> torch.Tensor:
    """Zero the positions of K windows (origins oy, ox) that lie in the padding of the conv's input."""
    h, w = r.shape[-2:]
    H, W = st.in_hw
    if not _clears_padding(st, method):
        return r
    if int(oy.min()) < 0 or int(ox.min()) < 0 or int(oy.max()) + h > H or int(ox.max()) + w > W:
        ay, ax = oy[:, None] + torch.arange(h, device=oy.device), ox[:, None] + torch.arange(w, device=ox.device)
        vy, vx = (ay >= 0) & (ay < H), (ax >= 0) & (ax < W)
        r = r.mul_((vy[:, :, None] & vx[:, None, :])[:, None])  # padding positions get nothing
    return r


def _cone_one(steps: list[Step], c_out: int, channel: int, y: int, x: int, input_shape: tuple[int, int, int],
              method: Method, dev: torch.device) -> torch.Tensor:
    """cone_backward for one unit, in fp32, with the window origin as Python ints (no index tensors)."""
    r = torch.zeros((1, c_out, 1, 1), device=dev)
    r[0, channel, 0, 0] = 1.0
    onehot = True
    for st in steps:
        h, w = r.shape[-2:]
        if st.kind == "maxpool":
            r = pool_t(r, st, torch.tensor([y]), torch.tensor([x]), {})
            y, x = y * st.stride[0] - st.padding[0], x * st.stride[1] - st.padding[1]
            onehot = False
            continue
        if st.kind == "relu":
            pos = window_mask(st.tensor, y, x, h, w, r.dtype) if method.uses_mask else None
            r = apply_rule(pos, r, method, inplace=True)
        else:
            if onehot and _gathers(st):  # the seeded channel's weight slice (see cone_backward)
                r = st.tensor[channel:channel + 1] * r[0, channel, 0, 0]
            else:  # one unit: plain conv^T (the batch path's matmul into 3 channels measured 3% slower here)
                r = F.conv_transpose2d(r, st.tensor, stride=st.stride, dilation=st.dilation, groups=st.groups)
            onehot = False
            y, x = y * st.stride[0] - st.padding[0], x * st.stride[1] - st.padding[1]
            h, w = r.shape[-2:]
            H, W = st.in_hw
            if _clears_padding(st, method) and (y < 0 or x < 0 or y + h > H or x + w > W):
                r[..., :max(0, -y), :] = 0                              # padding positions get nothing
                r[..., max(0, H - y):, :] = 0
                r[..., :, :max(0, -x)] = 0
                r[..., :, max(0, W - x):] = 0
    c, H, W = input_shape
    h, w = r.shape[-2:]
    out = torch.zeros((1, c, H, W), device=dev)
    t, l, b, rr = max(0, y), max(0, x), min(H, y + h), min(W, x + w)
    if t < b and l < rr:
        out[0, :, t:b, l:rr] = r[0, :, t - y:b - y, l - x:rr - x]
    return out


