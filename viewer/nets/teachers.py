"""Networks trained only as distillation teachers for All-CNN-C (`python -m viewer.training.train --arch NAME`).

Bigger or faster than All-CNN-C, and of other designs, so that their errors differ from its own: an
ensemble of unlike networks is more accurate than one of like ones, and All-CNN-C learns from its average.
Every ReLU is its own module, so the viewer can open these too (its layers are found by module hooks).
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBlock


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
    distillation teacher (`python -m viewer.training.train --arch airbench`), not as the viewer's model."""

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


class Residual(nn.Module):
    """x + block2(block1(x)), two 3x3 conv-BatchNorm-ReLU blocks of the same width (ResNet-9's residual)."""

    def __init__(self, width: int):
        super().__init__()
        self.block1 = ConvBlock(width, width, 3, padding=1)
        self.block2 = ConvBlock(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block2(self.block1(x))


class ResNet9(nn.Module):
    """ResNet-9 of D. Page ("How to train your ResNet", Myrtle.ai 2018; the DAWNBench CIFAR-10 winner): a 64
    stem, three groups (128 with a residual, 256, 512 with a residual) each conv-BN-ReLU then max-pool 2,
    a global max-pool and a linear layer whose output is scaled by 1/8. 6.57M parameters."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.prep = ConvBlock(in_channels, 64, 3, padding=1)
        self.layer1 = nn.Sequential(ConvBlock(64, 128, 3, padding=1), nn.MaxPool2d(2), Residual(128))
        self.layer2 = nn.Sequential(ConvBlock(128, 256, 3, padding=1), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(ConvBlock(256, 512, 3, padding=1), nn.MaxPool2d(2), Residual(512))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(512, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.fc(self.pool(x).flatten(1)) * 0.125


class BasicBlock(nn.Module):
    """He et al. 2016's basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)), the shortcut a
    1x1 conv + BatchNorm where the block changes width or stride."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.block1 = ConvBlock(cin, cout, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        reshape = stride != 1 or cin != cout
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
                         if reshape else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.conv2(self.block1(x))) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) in its common CIFAR form: a 3x3 stem without pooling, four stages of two
    basic blocks (64, 128, 256, 512 wide; stride 2 into each but the first), global average pool and a
    linear layer. 11.17M parameters, the slowest teacher here (95%+ on CIFAR-10 in published runs)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = ConvBlock(in_channels, 64, 3, padding=1)
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)):
            blocks.append(BasicBlock(cin, cout, stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))
