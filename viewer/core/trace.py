"""The forward pass's trace: which calls link one activation to the next, for the cone (cone.py) and the
replay (replay.py).

While the traced forward runs, `TracingReluMode` sees every torch call. A call that maps one 4-d activation
to another with a backward the cone knows (conv2d, batch_norm in eval, relu, eval dropout, clone) becomes an
`Op` keyed by its output's id; anything that changes a tensor in place marks that tensor "unsupported". A
layer's path back to the input is then a chain of Ops (`chain_to`) or it is not, and the caller falls back
to autograd.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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
    return None


def relu_op(x: torch.Tensor, out: torch.Tensor) -> Op:
    """The mask 1[f > 0] is taken from f only when a cone is compiled; f's version tells if it changed."""
    return Op("relu", id(x), id(out), (x, x._version), tuple(x.shape[1:]))


def chain_to(ops: dict[int, Op], input_id: int, target_id: int) -> list[Op] | None:
    """The ops from the input to the target tensor, last first, if they form a single chain."""
    chain, cur = [], target_id
    while cur != input_id:
        op = ops.get(cur)
        if op is None or op.kind == "unsupported" or len(chain) > len(ops):
            return None
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

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs)
        op = None
        if isinstance(out, torch.Tensor) and out.dim() == 4 and args and isinstance(args[0], torch.Tensor):
            if out is args[0]:
                # handing back the input unchanged (eval dropout) is no link; anything else that returns
                # its input changed it in place (`out += x`): that tensor is no longer a chain's output
                if func not in SAME_OBJECT_IDENTITY:
                    op = self.ops[id(out)] = Op("unsupported", -1, id(out))
                    self._alive.append(out)
            else:
                op = relu_op(args[0], out) if func in RELU_FUNCS else trace_op(func, args, kwargs or {}, out)
                if op is not None:
                    self.ops[op.output_id] = op
                    self._alive += [args[0], out]
        if self.recorder is not None:
            if func in RELU_FUNCS:  # what the mode ran: an out-of-place clamp (no graph, no rule)
                func, args, kwargs = torch.clamp_min, (args[0], 0), {}
            self.recorder.record(func, args, kwargs or {}, out, op)
        return out
