"""Units of many images reconstructed at once (the atlas's entries): one forward pass over a batch of images, then
one cone per layer and ReLU rule for all their units, each unit's windows reading its own image's masks and
max-pool switches (cone.compile_chain / cone_dag.compile_dag with images=True). The same sums as one image at a
time (tests: equal to autograd per image), without a forward pass and a cone call per image."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .attribution import Analyzer, ForwardPass
from .cone import ConePlan, NotAChain, compile_chain, cone_backward
from .cone_dag import compile_dag, dag_backward
from .cone_windows import grow
from .rules import Method
from .trace import chain_to


BUDGET_BYTES = 256 << 20    # the largest window of the units of one cone call, all together


def window_bytes(plan) -> int:
    """About what one unit's largest window holds (fp32, a few alive at once): the cone's widest step."""
    if not isinstance(plan, ConePlan):
        return max(4 * 3 * w.shape[0] * w.size[0] * w.size[1] for w in plan.windows)
    h = w = 1
    big = plan.channels
    for st in plan.steps:
        h, w = grow(st, h, w)
        c = st.tensor.shape[1] * st.groups if st.kind == "conv" else st.tensor.shape[-3]
        big = max(big, c * h * w)
    return 4 * 3 * big


@dataclass(frozen=True)
class ImageUnit:
    image: int      # its image's index in the batch
    layer: str
    channel: int
    y: int
    x: int


def reconstruct_images(analyzer: Analyzer, x: torch.Tensor, units: list[ImageUnit],
                       rules: list[Method]) -> tuple[ForwardPass, dict[str, dict[Method, torch.Tensor]]]:
    """The batch's forward pass and, per layer whose path the cone runs, each rule's reconstructions of that
    layer's units in the order given, (K, C, H, W) on the CPU. A layer or a rule missing from the answer (a path
    the cone cannot run, a rule that needs a ReLU where there is none) is the caller's, one image at a time."""
    fp = analyzer.forward(x, grad=False)
    done: dict[str, dict[Method, torch.Tensor]] = {}
    masks: dict = {}     # the ReLU masks of the batch, shared by every layer's cone (each layer's own: 5x the copies)
    for layer in dict.fromkeys(u.layer for u in units):
        out = fp.outputs[layer]
        if out.dim() != 4:
            continue
        chain = chain_to(fp.ops, id(fp.x), id(out))
        try:
            plan = compile_chain(chain, analyzer._folded, images=True, pooled=masks) if chain else \
                compile_dag(fp.ops, id(fp.x), id(out), tuple(out.shape[1:]), analyzer._folded, images=True,
                            pooled=masks)
        except NotAChain:
            continue
        plan = replace(plan, masks=masks)
        relu = any(s.kind == "relu" for s in plan.steps)   # a rule that needs one where there is none: the
        sel = [u for u in units if u.layer == layer]         # caller's one-image path says why (AttributionError)
        back = cone_backward if isinstance(plan, ConePlan) else dag_backward
        step = max(1, BUDGET_BYTES // window_bytes(plan))   # units per call: a ResNet's deep windows are MBs each
        done[layer] = {}
        for r in (r for r in rules if relu or not r.changes_gradient):
            parts = []
            for a in range(0, len(sel), step):
                ch, ys, xs, im = (torch.tensor([getattr(u, f) for u in sel[a:a + step]])
                                  for f in ("channel", "y", "x", "image"))
                parts.append(back(plan, ch, ys, xs, tuple(x.shape[1:]), r, analyzer.bf16, imgs=im).cpu())
            done[layer][r] = torch.cat(parts)
    return fp, done
