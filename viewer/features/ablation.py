"""Z: switch channels off (their output set to 0 in the analysis pass) and see what changes: the predictions
beside the intact model's (ticks), every map and reconstruction of the ablated network. Shift+Z clears.

A channel of a block that ends in a per-channel affine step and a ReLU (a conv with a bias, or BatchNorm, then
ReLU, as every block of the paper's networks) is zeroed through that step's parameters for the pass (the fast
replayed forward sees it: ReLU(0 * x + 0) = 0); any other layer by forward hooks, on a pass traced every time."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..core.attribution import Analyzer
from .base import Feature, Key, Slot


@dataclass(frozen=True)
class Ablate:
    units: tuple[tuple[str, int], ...]    # (layer, channel)s set to 0, sorted


@dataclass(frozen=True)
class Ablated:
    units: tuple[tuple[str, int], ...]
    intact_probs: np.ndarray              # the intact model's probabilities (Result.probs: the ablated one's)


def ablation_hooks(model: torch.nn.Module, layers: dict, ablate) -> list:
    """Forward hooks that set the given channels of their layers' outputs to 0 (the caller removes them)."""
    by_layer: dict[str, list[int]] = {}
    for layer, c in ablate:
        if layer in layers:
            by_layer.setdefault(layer, []).append(c)
    modules = dict(model.named_modules())
    handles = []
    for layer, channels in by_layer.items():
        info = layers[layer]
        calls = [0]

        def hook(module, inputs, output, info=info, channels=tuple(channels), calls=calls):
            k, calls[0] = calls[0], calls[0] + 1
            if k != info.call or not isinstance(output, torch.Tensor) or output.dim() < 2:
                return None
            mask = torch.ones(output.shape[1], dtype=output.dtype, device=output.device)
            mask[[c for c in channels if c < output.shape[1]]] = 0
            return output * mask.view(1, -1, *([1] * (output.dim() - 2)))
        handles.append(modules[info.module_name].register_forward_hook(hook))
    return handles


def zeroable(model: torch.nn.Module, layers: dict, layer: str) -> list | None:
    """The parameters whose channel c, set to 0, makes the layer's output channel c exactly 0: where the
    layer's module is called once and ends in a per-channel affine step and a ReLU."""
    info = layers[layer]
    if info.call != 0 or any(l.module_name == info.module_name and l.call for l in layers.values()):
        return None
    module = dict(model.named_modules()).get(info.module_name)
    kids = [k for k in module.children() if not isinstance(k, torch.nn.Identity)] if module is not None else []
    if len(kids) < 2 or not isinstance(kids[-1], torch.nn.ReLU):
        return None
    prev = kids[-2]
    if isinstance(prev, torch.nn.modules.batchnorm._BatchNorm) and prev.affine:
        return [prev.weight, prev.bias]
    if isinstance(prev, torch.nn.Conv2d) and prev.bias is not None:
        return [prev.weight, prev.bias]
    return None


class Ablation(Feature):
    name, title = "ablation", "ablation"

    def keys(self):
        return (Key(("z",), False, "ablate the selected channel (toggle; several allowed)", self.toggle),
                Key(("z",), True, "clear every ablation", self.clear))

    def initial(self, options):
        return AblationState()

    def toggle(self, session) -> None:
        st, unit = session.part(self.name), (session.info.name, session.channel)
        st.units = st.units - {unit} if unit in st.units else st.units | {unit}
        session.notify(f"{len(st.units)} channel(s) ablated (Shift+Z clears)" if st.units else "no channel ablated")
        session.changed()

    def clear(self, session) -> None:
        session.part(self.name).units = frozenset()
        session.notify("no channel ablated")
        session.changed()

    def mode(self, session) -> str:
        n = len(session.part(self.name).units)
        return f"Z {n} ablated" if n else ""

    def request(self, session, grid):
        units = session.part(self.name).units
        return Ablate(tuple(sorted(units))) if units else None

    @contextmanager
    def around(self, pipe, job, part: Ablate):
        # the intact model's predictions first, then the ablated pass
        job.context[self.name] = job.analyzer.forward(pipe.input(job.req.frame)).logits.detach()[0].float() \
            .softmax(0).cpu().numpy()
        zero = {l: zeroable(pipe.model, pipe.layers, l) for l in {l for l, _ in part.units if l in pipe.layers}}
        by_params = tuple((l, c) for l, c in part.units if zero.get(l) is not None)
        by_hooks = tuple(a for a in part.units if a not in by_params)
        saved = []
        handles = ablation_hooks(pipe.model, pipe.layers, by_hooks) if by_hooks else []
        try:
            with torch.no_grad():
                for layer, c in by_params:
                    for p in zero[layer]:
                        if c < p.shape[0]:
                            saved.append((p, c, p[c].clone()))
                            p[c] = 0
            if by_hooks:   # a replayed pass would skip the hooks: a traced analyzer, made once
                kept = pipe.kept(self.name)
                if "traced" not in kept:
                    kept["traced"] = Analyzer(pipe.model, list(pipe.layers.values()), replay=False,
                                              output=pipe.output, pixel_bounds=pipe.analyzer.pixel_bounds)
                job.analyzer = job.bulk = kept["traced"]
            yield
        finally:
            with torch.no_grad():
                for p, c, v in reversed(saved):
                    p[c] = v
            for h in handles:
                h.remove()

    def step(self, pipe, job, part: Ablate) -> Ablated:
        return Ablated(part.units, job.context[self.name])

    def block_marks(self, session) -> dict[str, str]:
        counts: dict[str, int] = {}
        for layer, _ in session.part(self.name).units:
            counts[layer] = counts.get(layer, 0) + 1
        return {layer: f"Z{n}" for layer, n in counts.items()}

    def tile_marks(self, session, layer: str) -> dict[int, str]:
        return {c: "Z" for l, c in session.part(self.name).units if l == layer}

    def slots(self, v, r):
        u = r.unit
        if u is None or (u.layer, u.channel) not in v.session.part(self.name).units:
            return {}
        return {0: Slot("", note="ablated by you (Z): its output is 0"),    # not "inactive": it was switched off
                1: Slot("", note="Z again or Shift+Z brings it back")}

    def predictions(self, v, r):
        part = r.part(self.name)
        if part is None:
            return None
        return f"with {len(part.units)} channel(s) off: top 5, change (| = intact)", part.intact_probs


class AblationState:
    def __init__(self):
        self.units: frozenset = frozenset()   # the (layer, channel)s set to 0 in the analysis pass
