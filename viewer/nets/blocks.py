"""The conv -> BatchNorm -> ReLU block every network of this package is built from."""
from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """conv -> (BatchNorm) -> ReLU; the block's output is what the viewer calls the layer's activation."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, bn: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=not bn)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))
