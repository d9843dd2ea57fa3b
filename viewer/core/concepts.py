"""Concept relevance (Achtibat et al. 2023, "From attribution maps to human-understandable explanations through
Concept Relevance Propagation"; the reference is zennit-crp's CondAttribution), on the LRP pass of lrp.py.

For a class seed (its logit) and a layer: R_c, the relevance arriving at channel c summed over positions; the
conditional map of c, the input relevance of the same backward pass with the layer's relevance set to 0 outside
channel c ("where in the image does this channel support the class"); and the class's whole input relevance.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .attribution import Analyzer, ForwardPass
from .lrp_method import lrp_pass
from .lrp_rules import Composite


@dataclass(frozen=True)
class ConceptRelevance:
    cls: int
    put_in: float                 # the class's logit: the relevance put in
    channels: torch.Tensor        # (C,) R_c
    conditional: torch.Tensor     # (K, C_in, H, W): the input relevance through each asked channel only
    whole: torch.Tensor           # (C_in, H, W): the class's input relevance


def concept_relevance(analyzer: Analyzer, fp: ForwardPass, composite: Composite, layer: str, cls: int | None,
                      channels: list[int]) -> ConceptRelevance:
    """cls None: the top class. One backward pass to the layer and the input, one more per asked channel."""
    lfp = lrp_pass(analyzer, fp, composite)
    cls = int(lfp.logits.detach()[0].argmax()) if cls is None else cls
    seed = torch.zeros_like(lfp.logits)
    seed[0, cls] = lfp.logits.detach()[0, cls]
    out = lfp.output(layer)
    r_layer, whole = torch.autograd.grad(lfp.logits, (out, lfp.x), seed, retain_graph=True)
    conditional = []
    for c in channels:
        keep = torch.zeros_like(r_layer)
        keep[:, c] = r_layer[:, c]
        conditional.append(torch.autograd.grad(out, lfp.x, keep, retain_graph=True)[0][0].detach())
    sums = r_layer[0].flatten(1).sum(1) if r_layer.dim() > 2 else r_layer[0]
    return ConceptRelevance(cls, float(seed[0, cls]), sums.detach().float(),
                            torch.stack(conditional).float() if conditional else torch.zeros(0),
                            whole[0].detach().float())
