"""The forward pass's trace: which calls link one activation to the next, for the cone (cone.py) and the
replay (replay.py).

While the traced forward runs, `TracingReluMode` sees every torch call. A call that maps one 4-d activation
to another with a backward the cone knows (conv2d, batch_norm in eval, relu, eval dropout, clone) becomes an
`Op` keyed by its output's id; anything that changes a tensor in place marks that tensor "unsupported". A
layer's path back to the input is then a chain of Ops (`chain_to`) or it is not, and the caller falls back
to autograd.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from .geometry import arg, conv2d_args, pair
from .rules import RELU_FUNCS, ReluRuleMode, RuleState


@dataclass(frozen=True)
class Op:
    kind: str                    # "conv", "bn", "relu", "maxpool", "identity", or "unsupported" (changed in place)
    input_id: int
    output_id: int
    params: tuple = ()           # conv: (weight, stride, padding, dilation, groups, bias); bn: (weight, var, eps,
                                 # mean, bias); relu: (input f, its version when recorded); maxpool: (kernel,
                                 # stride, padding, dilation, ceil_mode), pairs; read in cone.py
    in_shape: tuple = ()         # (C, H, W) of the op's input
    inp: tuple = field(default=(), compare=False, repr=False)   # conv, maxpool: (its input, that input's version)


def trace_op(func, args, kwargs, out) -> Op | None:
    """The record of one call seen by the forward's TorchFunctionMode, or None when it is not an
    activation-to-activation op the cone knows (the chain then breaks there, which is safe)."""
    if not isinstance(out, torch.Tensor) or out.dim() != 4 or not args or not isinstance(args[0], torch.Tensor):
        return None
    x = args[0]
    shape = tuple(x.shape[1:])
    if func is torch.conv2d or func is F.conv2d:
        conv = conv2d_args(args, kwargs)
        if conv is None:
            return None
        w, stride, padding, dilation, groups = conv
        # the weight itself, not w.detach(): a new object every traced pass, whose id as the key of the folded
        # weights' cache (cone.fold_weight) grew that cache by a copy of every weight per frame (G, Z, X)
        return Op("conv", id(x), id(out), (w, stride, padding, dilation, groups, arg(args, kwargs, 2, "bias")), shape,
                  (x, x._version))
    if func is F.batch_norm:
        if arg(args, kwargs, 5, "training", False):
            return None
        var = arg(args, kwargs, 2, "running_var")
        weight, eps = arg(args, kwargs, 3, "weight"), float(arg(args, kwargs, 7, "eps", 1e-5))
        if var is None:
            return None
        mean, bias = arg(args, kwargs, 1, "running_mean"), arg(args, kwargs, 4, "bias")
        return Op("bn", id(x), id(out), (weight, var, eps, mean, bias), shape)
    if func in (F.max_pool2d, torch.max_pool2d) and not arg(args, kwargs, 6, "return_indices", False):
        k = pair(arg(args, kwargs, 1, "kernel_size"))
        stride = arg(args, kwargs, 2, "stride", None)
        params = (k, pair(stride) if stride not in (None, ()) and stride != [] else k,
                  pair(arg(args, kwargs, 3, "padding", 0)), pair(arg(args, kwargs, 4, "dilation", 1)),
                  bool(arg(args, kwargs, 5, "ceil_mode", False)))
        return Op("maxpool", id(x), id(out), params, shape, (x, x._version))
    if func in (F.dropout, F.dropout2d) and not arg(args, kwargs, 2, "training", True):
        return Op("identity", id(x), id(out), (), shape)
    if func is torch.Tensor.clone or func is torch.clone:
        return Op("identity", id(x), id(out), (), shape)
    other = _summand(func, args, kwargs, out)
    if other is not None:   # a + b of two activations (a residual addition): params hold b's id
        return Op("add", id(x), id(out), (id(other),), shape)
    return None


ADD_NAMES = {"add", "__add__", "__radd__"}
IADD_NAMES = {"__iadd__", "add_"}     # by name: `out += x` arrives as TensorBase's method, not Tensor's


def _summand(func, args, kwargs, out, names=ADD_NAMES) -> torch.Tensor | None:
    """The second activation of an addition of two of the same shape (no alpha, no broadcasting), else None."""
    if getattr(func, "__name__", "") not in names or len(args) != 2 or kwargs.get("alpha", 1) != 1 or "out" in kwargs:
        return None
    b = args[1]
    if not isinstance(b, torch.Tensor) or not b.shape == out.shape == args[0].shape:
        return None
    if out is args[0] and b.untyped_storage().data_ptr() == out.untyped_storage().data_ptr():
        return None     # `o += o` (or a view of o): the sum would read its own result
    return b


def relu_op(x: torch.Tensor, out: torch.Tensor) -> Op:
    """The mask 1[f > 0] is taken from f only when a cone is compiled; f's version tells if it changed."""
    return Op("relu", id(x), id(out), (x, x._version), tuple(x.shape[1:]))


def chain_to(ops: dict[int, Op], input_id: int, target_id: int) -> list[Op] | None:
    """The ops from the input to the target tensor, last first, if they form a single chain."""
    chain, cur = [], target_id
    while cur != input_id:
        op = ops.get(cur)
        if op is None or op.kind in ("unsupported", "add") or len(chain) > len(ops):
            return None     # an addition joins two paths: not a chain (cone_dag.py runs it)
        chain.append(op)
        cur = op.input_id
    return chain


SAME_OBJECT_IDENTITY = {F.dropout, F.dropout2d, F.dropout1d, F.alpha_dropout, torch.Tensor.contiguous,
                        torch.Tensor.to, torch.Tensor.float, torch.Tensor.cpu}


class TracingReluMode(ReluRuleMode):
    """ReluRuleMode that also records the chain ops of the forward pass (output id -> Op)."""

    def __init__(self, state: RuleState, recorder=None):
        """recorder: a replay.TapeRecorder that is shown every call (passes without an autograd graph)."""
        super().__init__(state)
        self.ops: dict[int, Op] = {}
        self._alive: list[torch.Tensor] = []  # ids must stay unique while the trace is in use
        self.recorder = recorder
        self._renamed = 0   # tensors changed in place by an addition: their earlier value's key, -2, -3, ...

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs)
        op = None
        if isinstance(out, torch.Tensor) and out.dim() == 4 and args and isinstance(args[0], torch.Tensor):
            if out is args[0]:
                # handing back the input unchanged (eval dropout) is no link; `out += x` is an addition whose
                # first summand is out's earlier value; anything else that returns its input changed it in place:
                # that tensor is no longer a chain's output
                if func not in SAME_OBJECT_IDENTITY:
                    op = self._in_place_add(func, args, kwargs or {}, out) or Op("unsupported", -1, id(out))
                    self.ops[id(out)] = op
                    self._alive += [out, args[1]] if op.kind == "add" else [out]
            else:
                op = relu_op(args[0], out) if func in RELU_FUNCS else trace_op(func, args, kwargs or {}, out)
                if op is not None:
                    self.ops[op.output_id] = op
                    self._alive += [args[0], out, args[1]] if op.kind == "add" else [args[0], out]
        if self.recorder is not None:
            if func in RELU_FUNCS:  # what the mode ran: an out-of-place clamp (no graph, no rule)
                func, args, kwargs = torch.clamp_min, (args[0], 0), {}
            self.recorder.record(func, args, kwargs or {}, out, op)
        return out

    def _in_place_add(self, func, args, kwargs, out) -> Op | None:
        """`out += b`: out's earlier value keeps its op under a new key (negative: never an id), the addition
        reads it. None where that is unsafe: out had no op, or an op recorded since read its earlier value."""
        other, prev = _summand(func, args, kwargs, out, IADD_NAMES), self.ops.get(id(out))
        if other is None or prev is None or prev.kind == "unsupported" or \
                any(id(out) in ((o.input_id, o.params[0]) if o.kind == "add" else (o.input_id,))
                    for o in self.ops.values()):
            return None
        self._renamed -= 1
        key = self._renamed - 1
        self.ops[key] = replace(prev, output_id=key)
        return Op("add", key, id(out), (id(other),), tuple(out.shape[1:]))
