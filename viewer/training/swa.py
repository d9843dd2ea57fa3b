"""Stochastic weight averaging for `python -m viewer.training.train --swa N` (Izmailov et al. 2018, not in the paper).

The last N epochs of a run keep a constant learning rate (`--swa-lr`) instead of annealing to zero; the
weights at the end of each of those epochs are averaged (arithmetic mean of every parameter, BatchNorm's
scale and shift included). BatchNorm's running statistics of the averaged network are not the average of
the networks' statistics, so they are measured afresh: one pass over training batches in train mode, every
batch weighted equally (`recompute_bn`, as `torch.optim.swa_utils.update_bn` does).
"""
from __future__ import annotations

import copy
from typing import Iterable

import torch
from torch import nn


class WeightAverage:
    """Running arithmetic mean of a model's parameters (float32), kept on the CPU."""

    def __init__(self, avg: dict[str, torch.Tensor] | None = None, count: int = 0):
        self.avg = {k: v.detach().float().cpu().clone() for k, v in (avg or {}).items()}
        self.count = count

    def add(self, model: nn.Module) -> None:
        self.count += 1
        for name, p in model.named_parameters():
            p = p.detach().float().cpu()
            if name not in self.avg:
                self.avg[name] = p.clone()
            else:
                self.avg[name] += (p - self.avg[name]) / self.count

    def averaged(self, model: nn.Module) -> nn.Module:
        """A copy of `model` with the averaged parameters (BatchNorm statistics still model's own)."""
        out = copy.deepcopy(model)
        with torch.no_grad():
            for name, p in out.named_parameters():
                p.copy_(self.avg[name].to(p.device, p.dtype))
        return out

    def state(self) -> dict:
        return {"avg": self.avg, "count": self.count}


@torch.no_grad()
def recompute_bn(model: nn.Module, batches: Iterable[torch.Tensor], bf16: bool = False) -> int:
    """Reset every BatchNorm's running mean/variance and measure them on `batches` (train mode, each
    batch weighted equally: the running values are the means of the batch statistics). Returns the
    number of batches seen; the model is left in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    momenta = {m: m.momentum for m in bns}
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    n = 0
    try:
        for x in batches:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                model(x)
            n += 1
    finally:
        for m, mom in momenta.items():
            m.momentum = mom
        model.eval()
    return n
