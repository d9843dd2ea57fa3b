"""Network definitions that the viewer and the training lab share, registered by name.

    build_model("allcnn_c", num_classes=10)      # All-CNN-C (allcnn.py), the viewer's model
    build_model("model_c")                       # the paper's comparison networks (family_c.py)
    build_model("resnet9")                       # a distillation teacher (teachers.py)

A checkpoint names its architecture and arguments (viewer/core/checkpoint.py); a new network is one new
file here plus one line in ARCHITECTURES.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from .allcnn import AllCNNC
from .blocks import ConvBlock
from .family_c import ConvPoolCNNC, ModelC, StridedCNNC
from .teachers import Airbench, ResNet9, ResNet18

__all__ = ["ARCHITECTURES", "PAPER_FAMILY", "AllCNNC", "ConvBlock", "ConvPoolCNNC", "ModelC", "StridedCNNC", "build_model"]

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "allcnn_c": AllCNNC,
    "model_c": ModelC,
    "strided_cnn_c": StridedCNNC,
    "convpool_cnn_c": ConvPoolCNNC,
    "airbench": Airbench,
    "resnet9": ResNet9,
    "resnet18": ResNet18,
}

# All-CNN-C and the paper's comparison networks: the same options (bn, drop_in, drop_mid), one recipe
PAPER_FAMILY = ("allcnn_c", "model_c", "strided_cnn_c", "convpool_cnn_c")


def build_model(arch: str, **kwargs) -> nn.Module:
    """Build a registered architecture by name; an unknown name is a ValueError with the known ones."""
    try:
        factory = ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown architecture '{arch}' (known: {known})") from None
    return factory(**kwargs)
