"""Model definitions and a small registry of architectures by name.

All-CNN-C follows Springenberg et al. 2015, Table 2 (CIFAR-10, 32x32 RGB). Each convolution is wrapped
in a `ConvBlock` (conv -> optional BatchNorm -> ReLU) so that the block's output is the post-ReLU
activation the viewer shows and seeds. BatchNorm is an allowed, documented deviation from the paper.
"""
from __future__ import annotations

from typing import Callable

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


class AllCNNC(nn.Module):
    """All-CNN-C: nine convolutions, no pooling except the final global average.

    Fully convolutional: a larger input gives a larger final map, which is averaged all the same.
    Dropout (20% on the input, 50% after each stride-2 convolution) is active in train mode only.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, bn: bool = True,
                 drop_in: float = 0.2, drop_mid: float = 0.5):
        super().__init__()
        self.drop_in = nn.Dropout(drop_in)
        self.conv1 = ConvBlock(in_channels, 96, 3, padding=1, bn=bn)
        self.conv2 = ConvBlock(96, 96, 3, padding=1, bn=bn)
        self.conv3 = ConvBlock(96, 96, 3, stride=2, padding=1, bn=bn)
        self.drop3 = nn.Dropout(drop_mid)
        self.conv4 = ConvBlock(96, 192, 3, padding=1, bn=bn)
        self.conv5 = ConvBlock(192, 192, 3, padding=1, bn=bn)
        self.conv6 = ConvBlock(192, 192, 3, stride=2, padding=1, bn=bn)
        self.drop6 = nn.Dropout(drop_mid)
        self.conv7 = ConvBlock(192, 192, 3, padding=0, bn=bn)  # 8x8 -> 6x6 at 32x32 input
        self.conv8 = ConvBlock(192, 192, 1, bn=bn)
        self.conv9 = ConvBlock(192, num_classes, 1, bn=bn)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, classes)
        x = self.drop_in(x)
        x = self.drop3(self.conv3(self.conv2(self.conv1(x))))
        x = self.drop6(self.conv6(self.conv5(self.conv4(x))))
        x = self.conv9(self.conv8(self.conv7(x)))
        return self.pool(x).flatten(1)


class PoolGroup(nn.Module):
    """conv 3x3 -> max-pool 2 -> BatchNorm -> ReLU -> conv 3x3 -> BatchNorm -> ReLU (halves the map)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.block2 = ConvBlock(cout, cout, 3, padding=1)
        with torch.no_grad():  # start both convolutions near the identity on their first channels
            for conv in (self.conv1, self.block2.conv):
                nn.init.dirac_(conv.weight[:min(cin, conv.out_channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block2(self.relu1(self.bn1(self.pool(self.conv1(x)))))


class Airbench(nn.Module):
    """A fast CIFAR-10 network after airbench94 (K. Jordan 2024, "94% on CIFAR-10 in 3.29 seconds"): a 2x2
    stem conv, three conv-pool groups of widths 64/256/256, max-pool 3 and a linear layer; ReLU for GELU
    and no fixed whitening stem. About 2.2x the images/s of All-CNN-C in training on our CPU; used as a
    distillation teacher (`python -m viewer.train --arch airbench`), not as the viewer's model."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, widths: tuple[int, int, int] = (64, 256, 256)):
        super().__init__()
        w1, w2, w3 = widths
        self.stem = nn.Conv2d(in_channels, 24, 2)  # 32x32 -> 31x31
        self.relu = nn.ReLU()
        self.group1 = PoolGroup(24, w1)   # -> 15x15
        self.group2 = PoolGroup(w1, w2)   # -> 7x7
        self.group3 = PoolGroup(w2, w3)   # -> 3x3
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(w3, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.group3(self.group2(self.group1(self.relu(self.stem(x)))))
        return self.fc(self.pool(x).flatten(1))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "allcnn_c": AllCNNC,
    "airbench": Airbench,
}


def build_model(arch: str, **kwargs) -> nn.Module:
    """Build a registered architecture by name; an unknown name is a ValueError with the known ones."""
    try:
        factory = ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown architecture '{arch}' (known: {known})") from None
    return factory(**kwargs)
