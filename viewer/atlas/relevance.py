"""The atlas ranked by relevance (CRP's relevance maximization, Achtibat et al. 2023): per channel, the K images
in which the channel carries the most relevance for the image's own predicted class.

One LRP pass per batch (core/lrp.py; the composite's rules), each image seeded with its predicted class's logit;
one backward pass gives the relevance arriving at every covered layer at once. An image's score for channel c is
R_c, the relevance at c summed over positions; its patch is cut at the position where c holds the most relevance.
Ties are ordered as in the activation ranking (the earlier image first)."""
from __future__ import annotations

import numpy as np
import torch

from ..core.attribution import Analyzer
from ..core.graph import LayerInfo
from ..core.lrp import LrpMode
from ..core.lrp_rules import Composite
from .scan import TopK

SUFFIX = "@relevance"   # the atlas file stores the relevance ranking of layer L as layer "L@relevance"


def scan_relevance(analyzer: Analyzer, layers: list[LayerInfo], batches, k: int, composite: Composite,
                   progress=None, activations: dict[str, TopK] | None = None) -> dict[str, TopK]:
    """batches: as for scan.scan. Returns the relevance-ranked top K of each layer. activations: TopKs that the
    same pass's forward also updates (its values are the plain forward's: --rank both reads the data once)."""
    tops = {l.name: TopK(l.channels, k) for l in layers}
    for x, ids in batches:
        fp = analyzer.forward(x.float(), mode=LrpMode(composite, analyzer.pixel_bounds))
        logits = fp.logits
        seed = torch.zeros_like(logits)
        top = logits.detach().argmax(1)
        rows = torch.arange(len(top))
        seed[rows, top] = logits.detach()[rows, top]
        outs = [fp.output(l.name) for l in layers]
        if activations is not None:
            for l, o in zip(layers, outs):
                activations[l.name].update_tensor(o, np.asarray(ids, np.int64))
        grads = torch.autograd.grad(logits, outs, seed, allow_unused=True)
        for l, g in zip(layers, grads):
            r = torch.zeros_like(outs[layers.index(l)]) if g is None else g.detach().float()
            b, c, h, w = r.shape
            flat = r.reshape(b, c, h * w)
            arg = flat.argmax(-1)
            tops[l.name].update_scores(flat.sum(-1).cpu().numpy(), (arg // w).cpu().numpy(),
                                       (arg % w).cpu().numpy(), np.asarray(ids, np.int64))
        if progress is not None:
            progress(len(ids))
    return tops
