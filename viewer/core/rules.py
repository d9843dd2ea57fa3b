"""The ReLU backward rules and the machinery that applies them to every ReLU a model calls.

| method     | R' (signal passed below a ReLU with forward input f and signal R from above) |
| gradient   | 1[f > 0] * R                                                                  |
| deconvnet  | 1[R > 0] * R                                                                  |
| guided     | 1[f > 0] * 1[R > 0] * R                                                       |

`ReluRuleMode` is a TorchFunctionMode: while active, every relu call (nn.ReLU, in-place or not, one module
reused many times, F.relu, torch.relu, Tensor.relu and their in-place forms) is computed by `RuleReLU`,
whose backward reads the method from a `RuleState` at backward time. So one forward pass serves all
methods, and nothing is attached to the model. In-place relus become out-of-place inside the mode: the
model sees the same values, and tensors captured before the relu keep their values.
"""
from __future__ import annotations

import enum

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


class Method(enum.Enum):
    GUIDED = "guided"
    DECONVNET = "deconvnet"
    GRADIENT = "gradient"

    @property
    def label(self) -> str:
        return {"guided": "guided backprop", "deconvnet": "deconvnet", "gradient": "gradient"}[self.value]


def relu_backward(f: torch.Tensor, r: torch.Tensor, method: Method) -> torch.Tensor:
    """R' from the forward input f and the signal R; strict '>' in both masks (docs/definitions.md section 1)."""
    return apply_rule(f > 0, r, method)


def apply_rule(positive: torch.Tensor, r: torch.Tensor, method: Method) -> torch.Tensor:
    """The same rule given the forward mask 1[f > 0] (what RuleReLU keeps from the forward pass).
    clamp_min(0) is 1[R > 0] R exactly (R <= 0 becomes +0); one or two ops keep the hot path short."""
    if method is Method.GRADIENT:
        return r * positive
    if method is Method.DECONVNET:
        return r.clamp_min(0)
    if method is Method.GUIDED:
        return r.clamp_min(0) * positive
    raise ValueError(f"no ReLU rule for {method!r}")


class RuleState:
    """Which rule the RuleReLU nodes of one forward pass apply when a backward pass runs through them."""

    def __init__(self, method: Method = Method.GRADIENT):
        self.method = method


class RuleReLU(torch.autograd.Function):
    generate_vmap_rule = True  # lets autograd.grad(..., is_grads_batched=True) run K seeds at once

    @staticmethod
    def forward(x: torch.Tensor, state: RuleState) -> torch.Tensor:
        return x.clamp_min(0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, state = inputs
        ctx.state = state
        ctx.save_for_backward(x > 0)  # 1[f > 0]

    @staticmethod
    def backward(ctx, r: torch.Tensor):
        (positive,) = ctx.saved_tensors
        return apply_rule(positive, r, ctx.state.method), None


RELU_FUNCS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class ReluRuleMode(TorchFunctionMode):
    """Routes every relu call to RuleReLU; counts the calls so callers know whether a rule was reached."""

    def __init__(self, state: RuleState):
        super().__init__()
        self.state = state
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in RELU_FUNCS:
            self.calls += 1
            if not torch.is_grad_enabled():  # no graph: nothing to apply a rule to later
                return args[0].clamp_min(0)
            return RuleReLU.apply(args[0], self.state)
        return func(*args, **(kwargs or {}))
