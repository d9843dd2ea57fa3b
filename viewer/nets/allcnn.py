"""All-CNN-C (the registry of architectures by name is viewer/nets/__init__.py).

All-CNN-C follows Springenberg et al. 2015, Table 2 (CIFAR-10, 32x32 RGB). Each convolution is wrapped
in a `ConvBlock` (conv -> optional BatchNorm -> ReLU) so that the block's output is the post-ReLU
activation the viewer shows and seeds. BatchNorm is an allowed, documented deviation from the paper.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBlock


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
