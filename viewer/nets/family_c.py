"""The paper's comparison networks for All-CNN-C: Model C, Strided-CNN-C and ConvPool-CNN-C.

Springenberg et al. 2015, Tables 1 and 2 (CIFAR-10, 32x32 RGB). Each is built from the same `ConvBlock`
(conv -> BatchNorm -> ReLU) as All-CNN-C (allcnn.py), with the same padding (3x3 convolutions padded by 1,
the 3x3 convolution after the second downsampling unpadded), the same BatchNorm deviation and the same
dropout placement (on the input, and after each downsampling step), so that every variant ends at 6x6 for a
32x32 input and differs from All-CNN-C only where the paper says:

    Model C         conv1 96, conv2 96, pool1,        conv3 192, conv4 192, pool2,        conv5 192 (valid),
                    conv6 192 1x1, conv7 10 1x1, global average
    Strided-CNN-C   Model C with the pools removed and the convolution before each pool given stride 2
    ConvPool-CNN-C  Model C with an extra 3x3 convolution before each pool (as many parameters as All-CNN-C)

The pools are 3x3 max-pooling with stride 2 and padding 1 (padded with -inf, as nn.MaxPool2d does): the
padding that makes 32 -> 16 -> 8, the sizes of All-CNN-C's stride-2 convolutions (padding 0 would give
15 and 7). Parameter counts (with biases, without BatchNorm): Model C and Strided-CNN-C 954,730;
ConvPool-CNN-C 1,369,738, the same as All-CNN-C. Layers are numbered in the order of the tables.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBlock


def _pool() -> nn.Module:
    return nn.MaxPool2d(3, stride=2, padding=1)


class _FamilyC(nn.Module):
    """A sequence of named stages: dropout on the input, then the layers, dropout after each downsampling
    (a pool or a stride-2 convolution), then the global average. Subclasses list the layers (`stages`)."""

    downsampling: tuple[str, ...] = ()

    @staticmethod
    def stages(num_classes: int, cin: int, bn: bool) -> list[tuple[str, nn.Module]]:
        raise NotImplementedError

    def __init__(self, num_classes: int = 10, in_channels: int = 3, bn: bool = True,
                 drop_in: float = 0.2, drop_mid: float = 0.5):
        super().__init__()
        self.drop_in = nn.Dropout(drop_in)
        self._order: list[str] = []
        for name, module in self.stages(num_classes, in_channels, bn):
            self.add_module(name, module)
            self._order.append(name)
            if name in self.downsampling:
                drop = f"drop_{name}"
                self.add_module(drop, nn.Dropout(drop_mid))
                self._order.append(drop)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, classes)
        x = self.drop_in(x)
        for name in self._order:
            x = getattr(self, name)(x)
        return self.pool(x).flatten(1)


def _head(num_classes: int, bn: bool, first: int) -> list[tuple[str, nn.Module]]:
    """conv 3x3 192 valid (8x8 -> 6x6), conv 1x1 192, conv 1x1 classes, numbered from `first`."""
    return [(f"conv{first}", ConvBlock(192, 192, 3, padding=0, bn=bn)),
            (f"conv{first + 1}", ConvBlock(192, 192, 1, bn=bn)),
            (f"conv{first + 2}", ConvBlock(192, num_classes, 1, bn=bn))]


class ModelC(_FamilyC):
    """Model C: two 3x3 max-pools (stride 2) between pairs of 3x3 convolutions."""

    downsampling = ("pool1", "pool2")

    @staticmethod
    def stages(num_classes, cin, bn):
        return [("conv1", ConvBlock(cin, 96, 3, padding=1, bn=bn)),
                ("conv2", ConvBlock(96, 96, 3, padding=1, bn=bn)),
                ("pool1", _pool()),
                ("conv3", ConvBlock(96, 192, 3, padding=1, bn=bn)),
                ("conv4", ConvBlock(192, 192, 3, padding=1, bn=bn)),
                ("pool2", _pool()),
                *_head(num_classes, bn, 5)]


class StridedCNNC(_FamilyC):
    """Strided-CNN-C: Model C without its pools; the convolution before each pool has stride 2."""

    downsampling = ("conv2", "conv4")

    @staticmethod
    def stages(num_classes, cin, bn):
        return [("conv1", ConvBlock(cin, 96, 3, padding=1, bn=bn)),
                ("conv2", ConvBlock(96, 96, 3, stride=2, padding=1, bn=bn)),
                ("conv3", ConvBlock(96, 192, 3, padding=1, bn=bn)),
                ("conv4", ConvBlock(192, 192, 3, stride=2, padding=1, bn=bn)),
                *_head(num_classes, bn, 5)]


class ConvPoolCNNC(_FamilyC):
    """ConvPool-CNN-C: Model C with one more 3x3 convolution before each pool."""

    downsampling = ("pool1", "pool2")

    @staticmethod
    def stages(num_classes, cin, bn):
        return [("conv1", ConvBlock(cin, 96, 3, padding=1, bn=bn)),
                ("conv2", ConvBlock(96, 96, 3, padding=1, bn=bn)),
                ("conv3", ConvBlock(96, 96, 3, padding=1, bn=bn)),
                ("pool1", _pool()),
                ("conv4", ConvBlock(96, 192, 3, padding=1, bn=bn)),
                ("conv5", ConvBlock(192, 192, 3, padding=1, bn=bn)),
                ("conv6", ConvBlock(192, 192, 3, padding=1, bn=bn)),
                ("pool2", _pool()),
                *_head(num_classes, bn, 7)]
