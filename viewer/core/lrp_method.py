"""LRP composites as reconstruction methods (B, --method lrp-epsilon-plus-flat): a unit's or a class's relevance
in the input, from the frame's own forward pass recomputed once with the composite's rules (core/lrp.py).

The relevance put in is the target's own value: a unit's activation, a class's logit (the textbook's seed;
zennit's examples seed a class with 1, which scales every map by 1 / logit). What reaches the pixels is less
than what was put in by what the biases (and merged BatchNorm shifts) and the stabilizers absorbed:
`conservation` gives both numbers.
"""
from __future__ import annotations

import torch

from .attribution import Analyzer, Attribution, ForwardPass, Target
from .lrp import LrpMode
from .lrp_rules import Composite
from .protocols import AttributionMethod
from .targets import LOGITS, AttributionError, resolve_many


def pixel_bounds(mean, std, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The zB rule's (low, high): pixels 0 and 1 in the model's normalised units, (1, C, 1, 1)."""
    m = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)[:, :channels]
    s = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)[:, :channels]
    return (0 - m) / s, (1 - m) / s


def lrp_pass(analyzer: Analyzer, fp: ForwardPass, composite: Composite) -> ForwardPass:
    """The frame's pass with the composite's rules (once per frame and composite)."""
    if composite.name not in fp.lrp:
        x = fp.x.detach().float()
        fp.lrp.clear()   # one composite's graph at a time: the frame's memory stays one pass
        fp.lrp[composite.name] = analyzer.forward(x, mode=LrpMode(composite, analyzer.pixel_bounds))
    return fp.lrp[composite.name]


class Lrp(AttributionMethod):
    """One composite's relevance for each target: (K, C, H, W), signed (red positive, blue negative)."""

    zero_when_inactive = True   # an inactive unit puts in no relevance
    in_atlas = False            # a pass of its own per image: the atlas stores it when --methods names it
    relevance = True            # drawn summed over colours, red positive, blue negative (render/images.py)

    def __init__(self, composite: Composite):
        self.composite, self.value, self.label = composite, composite.name, composite.label

    def reconstruct(self, analyzer: Analyzer, fp: ForwardPass, targets: list[Target]) -> Attribution:
        lfp = lrp_pass(analyzer, fp, self.composite)
        units = resolve_many(lfp, targets)
        images = torch.zeros((len(units), *lfp.x.shape[1:]), dtype=torch.float32)
        values = []
        for k, u in enumerate(units):
            out = lfp.output(u.layer)
            idx = (0, u.channel, u.y, u.x) if out.dim() == 4 else (0, u.channel)
            seed = torch.zeros_like(out)
            seed[idx] = out.detach()[idx]
            values.append(float(out.detach()[idx]))
            if values[-1] == 0.0:
                continue
            (g,) = torch.autograd.grad(out, lfp.x, seed, retain_graph=True, allow_unused=True)
            if g is None:
                raise AttributionError(f"'{u.layer}' does not depend on the input: no relevance reaches it")
            images[k] = g.detach()[0].float()
        return Attribution(images, tuple(units), tuple(values))


def conservation(att: Attribution, k: int) -> tuple[float, float]:
    """(relevance put in, relevance reaching the input) for target k; their difference is what the biases and
    stabilizers absorbed."""
    return att.values[k], float(att.images[k].sum())


__all__ = ["LOGITS", "Lrp", "conservation", "lrp_pass", "pixel_bounds"]
