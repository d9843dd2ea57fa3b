"""The cone through residual additions (ResNets): a unit's signal back-propagated only through its receptive field
where the traced path from the input to its layer is a graph of the chain's ops (cone.py) joined by additions.

Every tensor on the path gets one window per unit: its origin at y * S + off (S: how many of the tensor's pixels one
step of the layer moves, off: a fixed offset), its size the union of what the windows of the ops reading it reach.
Tensors are visited from the layer down, each once every op that reads it has put its part in; each op moves its
output window's signal into its input's window: a convolution by its transpose, BatchNorm by its per-channel scale,
a ReLU by the method's rule on the forward's mask, max-pooling by its switches, an addition to both summands (the
gradient of a sum), where the branches' windows meet again they add. Exact against autograd like the chain's cone;
a graph it cannot run (another op, branches that move at different strides) is NotAChain: autograd runs it."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from .cone import NotAChain, Step, _bn_scale, _clip, fold_weight
from .cone_windows import conv_t, gather_windows, grown, pool_t, switches
from .rules import Method, apply_rule
from .trace import Op


@dataclass(frozen=True)
class Window:
    scale: tuple[int, int]       # the tensor's pixels per pixel of the layer
    off: tuple[int, int]         # a unit at (y, x) has its window at (y * scale + off)
    size: tuple[int, int]
    shape: tuple[int, int, int]  # the tensor's (C, H, W)


@dataclass(frozen=True)
class DagStep:
    kind: str                    # conv, bn, relu, maxpool, identity, add
    node: int                    # the op's output tensor (an index into DagPlan.windows)
    inputs: tuple[int, ...]      # its input tensors (add: the two summands)
    step: Step | None            # conv, relu, maxpool: what cone_windows needs; bn: its per-channel scale
    at: tuple[tuple[int, int], ...] = ()   # where the op's input window lies in each input's (union) window


@dataclass(frozen=True)
class DagPlan:
    steps: list[DagStep]
    windows: list[Window]        # [0]: the layer's tensor (1 x 1 windows); the input's is the last
    channels: int
    masks: dict = field(default_factory=dict, repr=False)


def _inputs(op: Op) -> tuple[int, ...]:
    return (op.input_id, op.params[0]) if op.kind == "add" else (op.input_id,)


def _reach(op: Op, scale, off, size):
    """The window an op reads for an output window (scale, off, size), per axis."""
    if op.kind not in ("conv", "maxpool"):
        return scale, off, size
    if op.kind == "conv":
        w, stride, pad, dil = op.params[:4]
        kernel = tuple(w.shape[2:])
    else:
        kernel, stride, pad, dil = op.params[:4]
    return (tuple(scale[a] * stride[a] for a in range(2)), tuple(off[a] * stride[a] - pad[a] for a in range(2)),
            tuple(grown(size[a], stride[a], dil[a], kernel[a]) for a in range(2)))


def _margin(win: Window, layer_hw: tuple[int, int]) -> int:
    """How far the windows of every unit of the layer reach outside the tensor (for the padded masks)."""
    return max([0] + [max(-win.off[a], (layer_hw[a] - 1) * win.scale[a] + win.off[a] + win.size[a] - win.shape[1 + a])
                      for a in range(2)])


def compile_dag(ops: dict[int, Op], input_id: int, target_id: int, target_shape: tuple[int, int, int],
                weights: dict | None = None, images: bool = False, pooled: dict | None = None) -> DagPlan:
    """The plan of a layer whose path from the input branches and joins; NotAChain where it cannot run.
    A BatchNorm read from a convolution that nothing else reads is folded into its weight (cone.fold_weight,
    with its cache of folded weights that outlives the forward pass). images: as cone.compile_chain's."""
    consumers: dict[int, int] = {}
    seen, stack = set(), [target_id]
    while stack:                                    # the ops on the path, and how many of them read each tensor
        t = stack.pop()
        if t == input_id or t in seen:
            continue
        seen.add(t)
        op = ops.get(t)
        if op is None or op.kind == "unsupported" or len(seen) > len(ops):
            raise NotAChain("the path leaves the traced ops")
        for i in _inputs(op):
            consumers[i] = consumers.get(i, 0) + 1
            stack.append(i)
    if input_id not in consumers:
        raise NotAChain("the layer does not depend on the input")
    index, windows, steps, reads = {target_id: 0}, [Window((1, 1), (0, 0), (1, 1), target_shape)], [], {}
    ready = [target_id]
    while ready:
        t = ready.pop()
        if t == input_id:
            continue
        op, win = ops[t], windows[index[t]]
        edge = _reach(op, win.scale, win.off, win.size)
        for i in _inputs(op):
            reads.setdefault(i, []).append(edge)
            consumers[i] -= 1
            if consumers[i] == 0:                   # every reader is placed: its window is their union
                scales = {e[0] for e in reads[i]}
                if len(scales) > 1:
                    raise NotAChain("branches that move at different strides")
                lo = tuple(min(e[1][a] for e in reads[i]) for a in range(2))
                hi = tuple(max(e[1][a] + e[2][a] for e in reads[i]) for a in range(2))
                index[i] = len(windows)
                windows.append(Window(edge[0], lo, (hi[0] - lo[0], hi[1] - lo[1]), op.in_shape))
                ready.append(i)
        steps.append((op, t, edge))
    if index.get(input_id) != len(windows) - 1:   # a cycle (an op reading its own output) never reaches it
        raise NotAChain("the input is not the last tensor reached")
    layer_hw = target_shape[1:]
    readers: dict[int, int] = {}
    for op, _, _ in steps:
        for i in _inputs(op):
            readers[i] = readers.get(i, 0) + 1
    folded = {op.input_id: op for op, _, _ in steps if op.kind == "bn" and readers[op.input_id] == 1
              and op.input_id in ops and ops[op.input_id].kind == "conv"}       # conv output -> the BN reading it
    plan = []
    for op, t, edge in steps:
        win, ins = windows[index[t]], tuple(index[i] for i in _inputs(op))
        at = tuple((edge[1][0] - windows[i].off[0], edge[1][1] - windows[i].off[1]) for i in ins)
        if op.kind == "bn" and op.input_id in folded:
            plan.append(DagStep("identity", index[t], ins, None, at))
            continue
        st = _step(op, win, 0 if images else _margin(win, layer_hw), images, pooled)
        if op.kind == "conv" and t in folded:
            st = replace(st, tensor=fold_weight(op.params[0], [folded[t].params[:3]], weights))
        plan.append(DagStep(op.kind, index[t], ins, st, at))
    return DagPlan(plan, windows, target_shape[0])


def _step(op: Op, win: Window, margin: int, images: bool = False, pooled: dict | None = None) -> Step | None:
    pick = (lambda t: t) if images else (lambda t: t[0])
    if op.kind == "conv":
        w, stride, pad, dil, groups = op.params[:5]
        return Step("conv", w.detach(), 0, stride, pad, dil, groups, op.in_shape[1:])
    if op.kind == "bn":
        return Step("bn", _bn_scale(*op.params[:3]).view(1, -1, 1, 1))
    if op.kind == "relu":
        f, version = op.params
        if f._version != version:
            raise NotAChain("relu input modified in place")
        return Step("relu", pick(f.detach()), margin)
    if op.kind == "maxpool":
        k, stride, pad, dil, ceil = op.params
        x, version = op.inp
        if x._version != version:
            raise NotAChain("pool input modified in place")
        idx = switches(x, (k, stride, pad, dil, ceil), pooled)
        return Step("maxpool", pick(idx), margin, stride, pad, dil, 1, op.in_shape[1:], kernel=k)
    return None


def dag_backward(plan: DagPlan, channels: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
                 input_shape: tuple[int, int, int], method: Method, bf16: bool = False,
                 imgs: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstructions (K, C, H, W) of K units (channel, y, x) of the plan's layer (imgs: as cone_backward's)."""
    k = len(channels)
    dev = next((s.step.tensor.device for s in plan.steps if s.step is not None), channels.device)
    dtype = torch.bfloat16 if bf16 else torch.float32
    channels, ys, xs = channels.to(dev), ys.to(dev).long(), xs.to(dev).long()
    img = imgs.to(dev).long() if imgs is not None else None
    parts: list[list] = [[] for _ in plan.windows]   # per tensor: what each reader put in (r, dy, dx, shared)
    seed = torch.zeros((k, plan.channels, 1, 1), dtype=dtype, device=dev)
    seed[torch.arange(k, device=dev), channels, 0, 0] = 1.0
    parts[0].append((seed, 0, 0, False))
    for s in plan.steps:
        win, st = plan.windows[s.node], s.step
        r, parts[s.node] = _gather(parts[s.node], win, k, dev), []
        oy, ox = ys * win.scale[0] + win.off[0], xs * win.scale[1] + win.off[1]
        if s.kind == "relu":
            mask = gather_windows(st, plan.masks, dtype, oy, ox, *r.shape[-2:], img) if method.uses_mask else None
            r = apply_rule(mask, r, method, inplace=True)
        elif s.kind == "bn":
            r = r * st.tensor.to(dtype)
        elif s.kind == "conv":
            r = conv_t(r.contiguous(memory_format=torch.channels_last), st.tensor.to(dtype), st)
            r = _clip(r, oy * st.stride[0] - st.padding[0], ox * st.stride[1] - st.padding[1], st, method)
        elif s.kind == "maxpool":
            r = pool_t(r, st, oy, ox, plan.masks, img)
        for i, (dy, dx) in zip(s.inputs, s.at):   # an addition hands the same r to both summands: neither may
            parts[i].append((r, dy, dx, len(s.inputs) > 1))   # change it in place (which is gathered first varies)
    r, win = _gather(parts[-1], plan.windows[-1], k, dev), plan.windows[-1]
    c, H, W = input_shape
    out = torch.zeros((k, c, H, W), device=dev)
    h, w = r.shape[-2:]
    tops, lefts = (ys * win.scale[0] + win.off[0]).tolist(), (xs * win.scale[1] + win.off[1]).tolist()
    for u, (y0, x0) in enumerate(zip(tops, lefts)):
        t, l, b, rr = max(0, y0), max(0, x0), min(H, y0 + h), min(W, x0 + w)   # the window's part inside the input
        if t < b and l < rr:
            out[u, :, t:b, l:rr] = r[u, :, t - y0:b - y0, l - x0:rr - x0].float()
    return out


def _gather(parts: list, win: Window, k: int, dev) -> torch.Tensor:
    """The sum of what a tensor's readers put in, in its window: into a part that covers the window where one
    does and is not shared with another summand (no new buffer, as along a chain), else into zeros."""
    full = [p for p in parts if (p[1], p[2]) == (0, 0) and tuple(p[0].shape[-2:]) == win.size]
    base = next((p for p in full if not p[3]), None)
    if base is None:
        r = torch.zeros((k, *win.size, win.shape[0]), dtype=parts[0][0].dtype, device=dev).permute(0, 3, 1, 2)
    else:
        r = base[0]
    for p in parts:
        if p is not base:
            r[..., p[1]:p[1] + p[0].shape[-2], p[2]:p[2] + p[0].shape[-1]] += p[0]
    return r


def dag_flops(plan: DagPlan) -> int:
    """Multiply-adds x 2 of one unit's backward through its cone: each transposed convolution over its output's
    window (what it reads), as cone.cone_flops counts a chain's."""
    total = 0
    for s in plan.steps:
        if s.kind == "conv":
            cout, cin_g, kh, kw = s.step.tensor.shape
            h, w = plan.windows[s.node].size
            total += 2 * cout * cin_g * kh * kw * h * w
    return total
