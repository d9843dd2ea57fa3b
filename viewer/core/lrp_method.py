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
from .lrp_cone import lrp_cone_backward, lrp_plan
from .lrp_rules import Composite
from .protocols import AttributionMethod
from .targets import AttributionError, resolve_many


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


BATCH = 64   # targets per batched pass (W): a copy of the frame each


class Lrp(AttributionMethod):
    """One composite's relevance for each target: (K, C, H, W), signed (red positive, blue negative)."""

    zero_when_inactive = True   # an inactive unit puts in no relevance
    in_atlas = False            # a pass of its own per image: the atlas stores it when --methods names it
    relevance = True            # drawn summed over colours, red positive, blue negative (render/images.py)

    def __init__(self, composite: Composite):
        self.composite, self.value, self.label = composite, composite.name, composite.label

    def reconstruct(self, analyzer: Analyzer, fp: ForwardPass, targets: list[Target]) -> Attribution:
        """One target: a backward pass through the frame's LRP pass. Several (W): the pass is run on a batch, a
        copy of the frame per target, so that one backward pass carries every seed (the rules act per sample)."""
        units = resolve_many(fp, targets)     # the frame's own pass: the same activations, so the same units
        images = torch.zeros((len(units), *fp.x.shape[1:]), dtype=torch.float32)
        values, rest = [0.0] * len(units), self._cones(analyzer, fp, units, images)
        if len(rest) == 1 and len(units) == 1:
            lfp = lrp_pass(analyzer, fp, self.composite)
            return Attribution(images, tuple(units), tuple(self._seeded(lfp, units, [0], images)))
        x = fp.x.detach().float()
        for k in set(range(len(units))) - set(rest):
            values[k] = float(fp.output(units[k].layer).detach()[(0, units[k].channel, units[k].y, units[k].x)])
        for start in range(0, len(rest), BATCH):
            ks = rest[start:start + BATCH]
            batch = analyzer.forward(x.expand(len(ks), *x.shape[1:]).contiguous(),
                                     mode=LrpMode(self.composite, analyzer.pixel_bounds))
            for k, v in zip(ks, self._seeded(batch, [units[k] for k in ks], ks, images)):
                values[k] = v
        return Attribution(images, tuple(units), tuple(values))

    def _cones(self, analyzer: Analyzer, fp: ForwardPass, units, images: torch.Tensor) -> list[int]:
        """The units whose layer the LRP cone reaches (lrp_cone.py), written into images scaled by their values;
        returns the indices of the others (for the LRP pass)."""
        by_layer: dict[str, list[int]] = {}
        for k, u in enumerate(units):
            by_layer.setdefault(u.layer, []).append(k)
        rest = []
        for layer, ks in by_layer.items():
            out = fp.output(layer)
            plan = lrp_plan(fp.ops, fp.x, out, self.composite, analyzer.pixel_bounds, fp.lrp,
                            analyzer.lrp_weights) \
                if analyzer.fast and out.dim() == 4 else None
            if plan is None:
                rest += ks
                continue
            sel = [units[k] for k in ks]
            rel = lrp_cone_backward(plan, [u.channel for u in sel], [u.y for u in sel], [u.x for u in sel],
                                    tuple(fp.x.shape[1:]))
            vals = out.detach()[0].float()[[u.channel for u in sel], [u.y for u in sel], [u.x for u in sel]]
            images[ks] = rel * vals.view(-1, 1, 1, 1)
        return sorted(rest)

    @staticmethod
    def _seeded(lfp: ForwardPass, units, ks: list[int], images: torch.Tensor):
        """Seed unit i at sample i of the pass with its own value; the input relevance into images[ks]."""
        outs, seeds, values = {}, {}, []
        for i, u in enumerate(units):
            out = outs.setdefault(u.layer, lfp.output(u.layer))
            idx = (i, u.channel, u.y, u.x) if out.dim() == 4 else (i, u.channel)
            seed = seeds.setdefault(u.layer, torch.zeros_like(out))
            seed[idx] = out.detach()[idx]
            values.append(float(out.detach()[idx]))
        if not any(values):
            return values
        names = list(outs)
        grads = torch.autograd.grad([outs[n] for n in names], lfp.x, [seeds[n] for n in names], retain_graph=True,
                                    allow_unused=True)
        if grads[0] is None:
            raise AttributionError(f"'{names[0]}' does not depend on the input: no relevance reaches it")
        g = grads[0].detach().float()
        images[ks] = g
        return values


def conservation(att: Attribution, k: int) -> tuple[float, float]:
    """(relevance put in, relevance reaching the input) for target k; their difference is what the biases and
    stabilizers absorbed."""
    return att.values[k], float(att.images[k].sum())


__all__ = ["Lrp", "conservation", "lrp_pass", "pixel_bounds"]
