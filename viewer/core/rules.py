"""The ReLU backward rules, written once as data, and the machinery that applies them to every ReLU a model calls.

Each rule is two switches on R' = 1[f > 0]^uses_mask * 1[R > 0]^clamps * R, with f the ReLU's forward input and
R the signal from above (strict '>' in both masks; DESIGN.md section 3):

| method     | uses_mask (1[f > 0]) | clamps (1[R > 0]) |
| gradient   | yes                  | no                |
| deconvnet  | no                   | yes               |
| guided     | yes                  | yes               |

`apply_rule` is the one function that reads them; the autograd path (RuleReLU) and the cone (cone.py) both
call it. `ReluRuleMode` is a TorchFunctionMode: while active, every relu call (nn.ReLU, in-place or not, one
module reused many times, F.relu, torch.relu, Tensor.relu and their in-place forms) is computed by `RuleReLU`,
whose backward reads the method from a `RuleState` at backward time. So one forward pass serves all methods,
and nothing is attached to the model. In-place relus become out-of-place inside the mode: the model sees the
same values, and tensors captured before the relu keep their values.
"""
from __future__ import annotations

import enum
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


class Method(enum.Enum):
    """A ReLU backward rule. The value is the name on the command line and in saved files."""
    # (value, uses_mask: times 1[f > 0], clamps: times 1[R > 0], label)       R' =
    GUIDED = ("guided", True, True, "guided backprop")                     # 1[f > 0] 1[R > 0] R
    DECONVNET = ("deconvnet", False, True, "deconvnet")                    # 1[R > 0] R
    GRADIENT = ("gradient", True, False, "gradient")                       # 1[f > 0] R

    def __new__(cls, value: str, uses_mask: bool, clamps: bool, label: str):
        rule = object.__new__(cls)
        rule._value_ = value
        rule.uses_mask = uses_mask   # multiplies by the forward mask 1[f > 0]
        rule.clamps = clamps         # multiplies by 1[R > 0]
        rule.label = label           # the name in captions
        return rule

    @property
    def changes_gradient(self) -> bool:
        """The rule is not the ReLU's own derivative 1[f > 0] R: where no ReLU is reached it would silently
        be the plain gradient, so such a method needs a ReLU below its target."""
        return self.clamps or not self.uses_mask


def apply_rule(positive: torch.Tensor | None, r: torch.Tensor, method: Method,
               inplace: bool = False) -> torch.Tensor:
    """R' from the forward mask 1[f > 0] (`positive`; None where the rule does not read it) and the signal R.
    clamp_min(0) is 1[R > 0] R exactly (R <= 0 becomes +0), so a rule is one or two ops on the hot path.
    inplace: write over r (a fresh tensor of the cone's own backward pass; never autograd's grad_output)."""
    if not isinstance(method, Method):
        raise ValueError(f"no ReLU rule for {method!r}")
    if method.clamps:
        r = r.clamp_min_(0) if inplace else r.clamp_min(0)
    if method.uses_mask:
        r = r.mul_(positive) if inplace else r * positive
    return r


def relu_backward(f: torch.Tensor, r: torch.Tensor, method: Method) -> torch.Tensor:
    """R' from the forward input f itself (the table's form, for tests and readers)."""
    return apply_rule(f > 0, r, method)


class RuleState:
    """Which rule the RuleReLU nodes of one forward pass apply when a backward pass runs through them."""

    def __init__(self, method: Method = Method.GRADIENT):
        self.method = method

    @contextmanager
    def using(self, method: Method):
        """The rule for one backward pass, set back afterwards even when that pass raises."""
        prev, self.method = self.method, method
        try:
            yield
        finally:
            self.method = prev


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


RELU_FUNCS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_,
              torch.ops.aten.relu.default, torch.ops.aten.relu_.default}   # the last two: torch.export programs


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
