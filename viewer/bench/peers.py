"""The peers side by side with ours on the same unit, with the same result (max relative difference printed):
Captum's NeuronGuidedBackprop, a plain PyTorch implementation with backward hooks on the ReLU modules (what a
user would write), and pytorch-grad-cam's GuidedBackpropReLUModel (class targets only) where it is installed."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..core.attribution import ClassTarget
from ..core.rules import Method
from .common import Row, median_ms, rel_diff


class HookGuidedBackprop:
    """Guided backprop the textbook way: a full backward hook on every nn.ReLU clamps its input gradient
    at 0 (autograd's ReLU backward already applies 1[f > 0]). One forward, then one backward per unit."""

    def __init__(self, model: nn.Module, layer: nn.Module):
        self.model, self.layer = model, layer

    def forward(self, x: torch.Tensor):
        out = {}
        handles = [m.register_full_backward_hook(lambda m, gi, go: (gi[0].clamp(min=0),))
                   for m in self.model.modules() if isinstance(m, nn.ReLU)]
        handles.append(self.layer.register_forward_hook(lambda m, i, o: out.update(act=o)))
        try:
            x = x.detach().clone().requires_grad_(True)
            self.model(x)
        finally:
            for h in handles:
                h.remove()
        return x, out["act"]

    def unit(self, x: torch.Tensor, act: torch.Tensor, unit) -> torch.Tensor:
        (g,) = torch.autograd.grad(act[0, unit.channel, unit.y, unit.x], x, retain_graph=True)
        return g

    def __call__(self, x: torch.Tensor, unit) -> torch.Tensor:
        xl, act = self.forward(x)
        return self.unit(xl, act, unit)


def bench_peers(model, an, fp, units, one_ms: float, all_ms: float, repeat: int, quick: bool) -> list[Row]:
    x, u = fp.x.detach(), units[0]
    ours1 = an.attribute(fp, [u], Method.GUIDED).images[0]
    ours = an.attribute(fp, units, Method.GUIDED).images
    sample = range(0, len(units), 19)
    rows: list[Row] = []
    hooks = HookGuidedBackprop(model, model.conv6)
    t1 = median_ms(lambda: hooks(x, u), repeat)
    rows.append(("plain PyTorch backward hooks, one conv6 unit (forward + backward)", t1,
                 f"ours (given the frame's forward) is {t1 / one_ms:.1f}x faster; max rel diff {rel_diff(ours1, hooks(x, u)[0]):.1e}"))
    if not quick:
        def looped():
            xl, act = hooks.forward(x)
            return [hooks.unit(xl, act, v) for v in units]
        t192 = median_ms(looped, 3, warmup=1)
        got = looped()
        rows.append(("plain PyTorch backward hooks, 192 conv6 units (one forward, 192 backward)", t192,
                     f"ours is {t192 / all_ms:.1f}x faster; max rel diff {max(rel_diff(ours[i], got[i][0]) for i in sample):.1e}"))
    rows += _captum(model, x, units, ours1, ours, sample, one_ms, all_ms, repeat, quick)
    rows += _grad_cam(model, an, fp, repeat)
    return rows


def _captum(model, x, units, ours1, ours, sample, one_ms, all_ms, repeat, quick) -> list[Row]:
    try:
        from captum.attr import NeuronGuidedBackprop
    except ImportError:
        return [("Captum NeuronGuidedBackprop", float("nan"), "captum not installed: pip install captum")]
    import warnings
    warnings.filterwarnings("ignore", module="captum")  # its notes on hooks and requires_grad, every call
    ngb = NeuronGuidedBackprop(model, model.conv6)
    cap = lambda unit: ngb.attribute(x, neuron_selector=(unit.channel, unit.y, unit.x))  # noqa: E731
    t1 = median_ms(lambda: cap(units[0]), repeat)
    rows = [("Captum NeuronGuidedBackprop, one conv6 unit (forward + backward)", t1,
             f"ours (given the frame's forward) is {t1 / one_ms:.1f}x faster; max rel diff {rel_diff(ours1, cap(units[0])[0]):.1e}")]
    if not quick:
        t192 = median_ms(lambda: [cap(v) for v in units], 3, warmup=1)
        d192 = max(rel_diff(ours[i], cap(units[i])[0]) for i in sample)
        rows.append(("Captum NeuronGuidedBackprop, 192 conv6 units (looped)", t192,
                     f"ours is {t192 / all_ms:.1f}x faster; max rel diff {d192:.1e}"))
    return rows


def _grad_cam(model, an, fp, repeat) -> list[Row]:
    try:
        from pytorch_grad_cam import GuidedBackpropReLUModel
    except Exception as e:  # ImportError, or its torchvision failing beside this torch build
        return [("pytorch-grad-cam GuidedBackpropReLUModel", float("nan"),
                 f"not available ({type(e).__name__}); it needs torchvision: pip install grad-cam")]
    top = int(fp.logits.argmax())
    gbp = GuidedBackpropReLUModel(copy.deepcopy(model), device="cpu")  # it swaps the model's ReLU modules
    x = fp.x.detach()
    theirs = lambda: gbp(x.clone(), target_category=top)  # noqa: E731
    t = median_ms(theirs, repeat)
    ours_ms = median_ms(lambda: an.attribute(fp, [ClassTarget(top)], Method.GUIDED), repeat)
    ours = an.attribute(fp, [ClassTarget(top)], Method.GUIDED).images[0].permute(1, 2, 0)
    return [("pytorch-grad-cam GuidedBackpropReLUModel, top class (forward + backward)", t,
             f"ours (given the forward, {ours_ms:.1f} ms) is {t / ours_ms:.1f}x faster; "
             f"max rel diff {rel_diff(ours, torch.from_numpy(theirs())):.1e}")]
