"""The pieces feature visualization (featvis.py) is made of: the forward stopped at a layer, Lucid's redirected ReLU
gradient, Lucid's diversity term, Adam written out, and the model frozen in eval mode while it runs."""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch.overrides import TorchFunctionMode

from .graph import CallCounter, LayerInfo
from .rules import RELU_FUNCS
from .targets import AttributionError


class RedirectedReLU(torch.autograd.Function):
    """Lucid's redirected ReLU gradient: the ReLU's own gradient where it lets any through for a sample; where it
    lets none through (every unit on the way is off, as for a dead start), the gradient passes the ReLU anyway,
    except where it would push a negative input lower. Without it a unit that starts at 0 never moves."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        plain = g * (x > 0)
        dead = plain.flatten(1).abs().amax(1) == 0
        if not bool(dead.any()):
            return plain
        redirected = torch.where((x < 0) & (g > 0), torch.zeros_like(g), g)   # loss gradient > 0: pushes x down
        return torch.where(dead.view(-1, *([1] * (g.dim() - 1))), redirected, plain)


class _Redirect(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in RELU_FUNCS and torch.is_grad_enabled():
            return RedirectedReLU.apply(args[0])
        return func(*args, **(kwargs or {}))


class _Stop(Exception):
    """Raised by the hook at the target layer: the rest of the model is not run."""


def layer_output(model: torch.nn.Module, layer: LayerInfo, x: torch.Tensor, redirect: bool = False) -> torch.Tensor:
    """The layer's output for input x, the forward stopped there; redirect: ReLUs pass gradient as RedirectedReLU
    does."""
    module = dict(model.named_modules())[layer.module_name]
    got = {}

    def on_output(name, call, output):
        if call == layer.call:
            got["out"] = output
            raise _Stop
    try:
        with CallCounter([(layer.module_name, module)], on_output), _Redirect() if redirect else nullcontext():
            model(x)
    except _Stop:
        pass
    if "out" not in got:
        raise AttributionError(f"the model's forward never produced '{layer.name}'")
    return got["out"]


def diversity(out: torch.Tensor) -> torch.Tensor:
    """Lucid's diversity penalty: the mean cosine similarity between the K images' Gram matrices of a layer's
    activations (K, C, H, W); lower when the images differ in what the layer sees, not only in where."""
    f = out.flatten(2)                                   # (K, C, HW)
    gram = (f @ f.transpose(1, 2)).flatten(1)            # (K, C*C)
    gram = gram / gram.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sim = gram @ gram.T
    k = len(out)
    return (sim.sum() - sim.diagonal().sum()) / (k * (k - 1))


def needs_grad(acts: torch.Tensor, layer: LayerInfo) -> torch.Tensor:
    if not acts.requires_grad:
        raise AttributionError(f"'{layer.name}' does not depend on the input through a gradient (a model run without "
                               "autograd, or a detached output): nothing to optimize")
    return acts


class Adam:
    """Adam (Kingma & Ba 2015, torch.optim.Adam's defaults: betas 0.9, 0.999, eps 1e-8), written out: creating a
    torch.optim optimizer imports torch._dynamo, which imports triton where it is installed, and that crashed the
    window's worker thread (a segmentation fault in triton's import)."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, grads) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** self.t))


class frozen:  # noqa: N801  (used as a context manager: with frozen(model))
    """Eval mode and parameters without grad while the optimizer runs; restored after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.flags = [m for m in self.model.modules() if m.training]
        self.grads = [p for p in self.model.parameters() if p.requires_grad]
        self.model.eval()
        for p in self.grads:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for m in self.flags:
            m.training = True
        for p in self.grads:
            p.requires_grad_(True)
