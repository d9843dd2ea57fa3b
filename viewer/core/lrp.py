"""Layer-wise Relevance Propagation through any model made of convolutions, dense layers, BatchNorm, ReLU,
pooling and additions, with the rules of lrp_rules.py assigned by a Composite.

`LrpMode` is a TorchFunctionMode for one forward pass with an autograd graph (Analyzer.forward(x, mode=...)):
each call the rules know becomes an autograd Function whose backward computes relevance instead of a gradient,
so torch.autograd.grad(layer_output, x, seed) is the input relevance of that seed. Nothing is attached to or
changed in the model:

- conv2d / conv1d / linear: the composite's rule (lrp_rules.Rule) for the layer's kind and position;
- batch_norm in eval right after such a call: merged into it for its rule (weights * gamma / sqrt(var + eps),
  bias (b - mean) * gamma / sqrt(var + eps) + beta, as zennit's canonizer does, computed here, never written
  back); the BatchNorm itself then passes relevance on (zennit's Pass), as does one that follows no linear call;
- relu (any form, in place or not, a module reused): passes relevance on;
- max-pooling: the gradient, i.e. all of an output's relevance to its argmax;
- average pooling, adaptive average pooling, a spatial mean, and the sum of two tensors that both depend on the
  input: in proportion to each input's contribution, R_i = x_i dz/dx_i R / stab(z) (zennit's Norm);
- reshaping, indexing, concatenation, padding, eval dropout, clone: relevance follows the values;
- an elementwise op with a constant (x - mean, x / std, x * 0.5): passes relevance on unchanged.
Any other call on a tensor that depends on the input is refused: relevance that reaches it raises
AttributionError naming it (no silent gradient); a unit below it is still explained.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .geometry import arg, conv2d_args
from .lrp_rules import STABILIZER, Composite, Layer, apply_terms, stab
from .rules import RELU_FUNCS
from .targets import AttributionError

LINEAR_FUNCS = {F.conv2d: "conv", torch.conv2d: "conv", F.conv1d: "conv", torch.conv1d: "conv", F.linear: "linear"}
POOL_FUNCS = {F.avg_pool2d, torch._C._nn.avg_pool2d, F.avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool1d,
              torch._C._nn.adaptive_avg_pool2d}
MAX_FUNCS = {F.max_pool2d, torch.max_pool2d, F.max_pool1d, F.max_pool2d_with_indices, F.adaptive_max_pool2d,
             torch.Tensor.max, torch.max, torch.amax, torch.Tensor.amax}
ADD_NAMES = {"add", "__add__", "__radd__", "__iadd__", "add_"}   # by name: `out += x` arrives as TensorBase's
CONST_NAMES = {"sub", "__sub__", "__rsub__", "__isub__", "sub_", "mul", "__mul__", "__rmul__", "__imul__", "mul_",
               "div", "__truediv__", "__itruediv__", "div_", "true_divide"}
FOLLOW = {"view", "reshape", "flatten", "permute", "contiguous", "clone", "__getitem__", "squeeze", "unsqueeze",
          "cat", "concat", "stack", "transpose", "t", "expand", "pad", "dropout", "dropout1d", "dropout2d",
          "feature_alpha_dropout", "alpha_dropout", "float", "to", "type_as", "chunk", "split", "unbind",
          "narrow", "select", "unflatten", "movedim", "flip", "roll", "identity", "cpu", "detach_", "__get__",
          "view_as", "reshape_as", "split_with_sizes", "max_pool2d", "max_pool1d", "adaptive_max_pool2d",
          "max_pool2d_with_indices", "zero_pad2d"}


class LinearCall:
    """One linear call's arguments; BatchNorm merged in by `merge`; its rule computes its input's relevance."""

    def __init__(self, func, args, kwargs, kind: str, rule):
        self.func, self.kind, self.rule = func, kind, rule
        self.weight, self.bias = arg(args, kwargs, 1, "weight"), arg(args, kwargs, 2, "bias")
        self.rest = {k: v for k, v in kwargs.items() if k not in ("input", "weight", "bias")}
        self.extra = tuple(args[3:])
        self.scale = self.shift = None
        self.through_bn = False   # set by the BatchNorm's backward: this relevance came through it (merge it)
        self.terms: dict[bool, list] = {}   # merged? -> the rule's terms for this pass (lrp_rules.Rule.terms)

    def call(self, a, w, b):
        return self.func(a, w, b, *self.extra, **self.rest)

    def merge(self, mean, var, gamma, beta, eps) -> None:
        scale = (gamma if gamma is not None else 1.0) / torch.sqrt(var + eps)
        shift = (beta if beta is not None else 0.0) - mean * scale
        self.scale, self.shift = scale, shift

    def params(self):
        """The weights the rule sees: merged with the BatchNorm above only when the relevance came through it
        (a seed at the convolution's own output is explained by the convolution alone)."""
        w, b = self.weight.detach(), None if self.bias is None else self.bias.detach()
        merged, self.through_bn = self.through_bn, False
        if self.scale is None or not merged:
            return w, b
        s = self.scale.detach().reshape(-1, *([1] * (w.dim() - 1)))
        return w * s, (self.shift.detach() + (b * self.scale.detach() if b is not None else 0.0))

    def transpose(self, a_shape):
        if self.func in (F.conv2d, torch.conv2d):
            _, stride, padding, dilation, groups = conv2d_args((None, self.weight, None, *self.extra), self.rest)
            return lambda s, w: torch.nn.grad.conv2d_input(a_shape, w, s, stride, padding, dilation, groups)
        if self.func is F.linear:
            return lambda s, w: s @ w

        def generic(s, w):   # the gradient of <s, out(a, w, 0)> in a: out is linear in a
            a = torch.zeros(a_shape, dtype=s.dtype, requires_grad=True)
            with torch.enable_grad():
                return torch.autograd.grad(self.call(a, w, None), a, s)[0]
        return generic

    def relevance(self, a: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """The rule's terms are computed at the first backward through this call (for each of merged / not
        merged) and kept: every later seed of the same pass costs only the transposes."""
        merged = self.through_bn and self.scale is not None
        w, b = self.params()
        back = self.transpose(a.shape)
        if merged not in self.terms:
            self.terms[merged] = self.rule.terms(Layer(a.detach(), w, b, self.call, back))
        return apply_terms(self.terms[merged], r, back)


class LrpLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, call: LinearCall, out):
        ctx.call = call
        ctx.save_for_backward(x)
        return out

    @staticmethod
    def backward(ctx, r):
        (x,) = ctx.saved_tensors
        return ctx.call.relevance(x, r), None, None


class BatchNormPass(torch.autograd.Function):
    """A BatchNorm merged into the linear call below it: relevance passes on, and that call is told to merge."""

    @staticmethod
    def forward(ctx, x, out, call):
        ctx.call = call
        return out

    @staticmethod
    def backward(ctx, r):
        if ctx.call is not None:
            ctx.call.through_bn = True
        return r, None, None


class Passing(torch.autograd.Function):
    """Forward: the value computed by the call; backward: the relevance unchanged (ReLU, BatchNorm, constants)."""

    @staticmethod
    def forward(ctx, x, out):
        return out

    @staticmethod
    def backward(ctx, r):
        return r, None


class Proportional(torch.autograd.Function):
    """z = f(x1, x2, ...) with f linear (a pooling, a mean, a sum): R_i = x_i * (df/dx_i)^T (R / stab(z))."""

    @staticmethod
    def forward(ctx, f, *xs):
        ctx.f = f
        ctx.save_for_backward(*xs)
        with torch.no_grad():
            return f(*xs)

    @staticmethod
    def backward(ctx, r):
        xs = [x.detach().requires_grad_() for x in ctx.saved_tensors]
        with torch.enable_grad():
            z = ctx.f(*xs)
            grads = torch.autograd.grad(z, xs, r / stab(z.detach(), STABILIZER))
        return (None, *(x.detach() * g for x, g in zip(xs, grads)))


class Refused(torch.autograd.Function):
    """A call without an LRP rule: its value goes on; relevance arriving at it raises AttributionError."""

    @staticmethod
    def forward(ctx, name, out, *inputs):
        ctx.name, ctx.n = name, len(inputs)
        return out

    @staticmethod
    def backward(ctx, r):
        raise AttributionError(f"LRP has no rule for {ctx.name} (called on a tensor that depends on the input): the "
                               "LRP methods cover convolutions, dense layers, BatchNorm, ReLU, pooling and additions")


def _depends(t) -> bool:
    return isinstance(t, torch.Tensor) and t.requires_grad


class LrpMode(TorchFunctionMode):
    """The forward pass's calls as relevance rules (see the module's docstring). calls: relu calls seen;
    ops: empty (an LRP pass has no cone chain)."""

    def __init__(self, composite: Composite, bounds: tuple | None = None):
        super().__init__()
        self.composite, self.bounds = composite, bounds
        self.calls, self.ops = 0, {}
        self.linear_seen = False
        self._linear_of: dict[int, LinearCall] = {}
        self._alive: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        x = args[0] if args else kwargs.get("input")
        if not torch.is_grad_enabled() or not any(_depends(a) for a in (*args, *kwargs.values())):
            return func(*args, **kwargs)
        if func in RELU_FUNCS:
            self.calls += 1
            return Passing.apply(x, x.detach().clamp_min(0))
        if func in LINEAR_FUNCS and _depends(x):
            return self._linear(func, args, kwargs, x)
        if func is F.batch_norm:
            return self._batch_norm(args, kwargs, x)
        name = getattr(func, "__name__", str(func))
        if func in POOL_FUNCS or (name == "mean" and _spatial_mean(args, kwargs)):
            return Proportional.apply(lambda t: func(t, *args[1:], **kwargs), x)
        if name in ADD_NAMES and len(args) == 2 and _depends(args[0]) and _depends(args[1]) and \
                args[0].shape == args[1].shape and "alpha" not in kwargs:
            return Proportional.apply(lambda p, q: p + q, args[0], args[1])
        if name in ADD_NAMES or name in CONST_NAMES:
            tensors = [a for a in args if _depends(a)]
            if len(tensors) == 1:
                out = func(*[a.detach() if _depends(a) else a for a in args], **kwargs)
                return Passing.apply(tensors[0], out)
        if name in FOLLOW or func in MAX_FUNCS:
            out = func(*args, **kwargs)
            if name == "clone" and id(x) in self._linear_of:
                self._keep(out, self._linear_of[id(x)])
            return out
        out = func(*args, **kwargs)
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            return out
        # no rule: relevance that reaches this call stops with one sentence (a unit below it is still explained)
        return Refused.apply(name, out.detach(), *[a for a in (*args, *kwargs.values()) if _depends(a)])

    def _linear(self, func, args, kwargs, x):
        kind = LINEAR_FUNCS[func]
        rule = self.composite.rule_for(kind, not self.linear_seen)
        self.linear_seen = True
        if rule.kind == "zbox":
            if self.bounds is None:
                raise AttributionError("the zB rule needs the input's pixel bounds (the model's normalisation)")
            rule = rule.with_bounds(*self.bounds)
        call = LinearCall(func, args, kwargs, kind, rule)
        with torch.no_grad():
            out = func(x.detach(), *args[1:], **kwargs)
        out = LrpLinear.apply(x, call, out)
        self._keep(out, call)
        return out

    def _batch_norm(self, args, kwargs, x):
        training = arg(args, kwargs, 5, "training", False)
        if training:
            raise AttributionError("LRP runs the model in eval mode; a BatchNorm in training mode has no rule")
        call = self._linear_of.get(id(x))
        mean, var = arg(args, kwargs, 1, "running_mean"), arg(args, kwargs, 2, "running_var")
        if call is not None and call.scale is None and mean is not None:
            call.merge(mean, var, arg(args, kwargs, 3, "weight"), arg(args, kwargs, 4, "bias"),
                       float(arg(args, kwargs, 7, "eps", 1e-5)))
        with torch.no_grad():
            out = F.batch_norm(x.detach(), *args[1:], **kwargs)
        return BatchNormPass.apply(x, out, call if call is not None and call.scale is not None else None)

    def _keep(self, out, call: LinearCall) -> None:
        self._linear_of[id(out)] = call
        self._alive.append(out)   # ids stay unique while the pass is in use


def _spatial_mean(args, kwargs) -> bool:
    """A mean over the spatial dims of a 4-d (or 3-d) activation: global average pooling written as x.mean."""
    x, dim = args[0], arg(args, kwargs, 1, "dim")
    if dim is None or x.dim() < 3:
        return False
    dims = {d % x.dim() for d in ((dim,) if isinstance(dim, int) else dim)}
    return dims and 0 not in dims and 1 not in dims
