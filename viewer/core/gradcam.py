"""Grad-CAM (Selvaraju et al. 2017) and guided Grad-CAM, from one generic gradient at a layer.

For a class logit y and a layer with feature maps A_k (k channels, h x w): alpha_k = the mean over positions
of dy/dA_k (Analyzer.layer_gradient, the plain gradient), the map is ReLU(sum_k alpha_k A_k), bilinearly
upsampled to the input and divided by its maximum. Guided Grad-CAM is the class's guided-backprop image times
that map: it needs a ReLU below the logits (guided backprop has nothing to guide otherwise); the map alone
does not.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .attribution import Analyzer, AttributionError, ClassTarget, ForwardPass
from .protocols import ClassMapMethod
from .rules import Method


def cam(analyzer: Analyzer, fp: ForwardPass, class_index: int, layer: str) -> torch.Tensor:
    """Grad-CAM's heat map (H, W) in [0, 1] at the input's size, on the CPU."""
    if fp.output(layer).dim() != 4:
        raise AttributionError(f"Grad-CAM needs a layer with a spatial map; '{layer}' has none")
    act, grad = analyzer.layer_gradient(fp, layer, class_index)                 # (1, C, h, w) each
    weights = grad[0].float().mean(dim=(1, 2))                                  # (C,) alpha_k
    heat = F.relu((weights[:, None, None] * act[0].float()).sum(0))             # (h, w)
    heat = F.interpolate(heat[None, None], size=fp.x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    peak = float(heat.max())
    heat = heat / peak if peak > 0 else heat
    return heat.cpu()


def guided(analyzer: Analyzer, fp: ForwardPass, class_index: int, heat: torch.Tensor) -> torch.Tensor:
    """Guided Grad-CAM (C, H, W): the class's guided-backprop image times the heat map (H, W)."""
    return analyzer.attribute(fp, [ClassTarget(class_index)], Method.GUIDED).images[0] * heat[None]


def cam_and_guided(analyzer: Analyzer, fp: ForwardPass, class_index: int,
                   layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Both, as tensors: the heat map (H, W) and guided Grad-CAM (C, H, W)."""
    heat = cam(analyzer, fp, class_index, layer)
    return heat, guided(analyzer, fp, class_index, heat)


class GradCam(ClassMapMethod):
    """Grad-CAM at the layer, and guided Grad-CAM where the model calls a ReLU below the logits."""

    value, label = "gradcam", "Grad-CAM"

    def maps(self, analyzer: Analyzer, fp: ForwardPass, class_index: int, layer: str) -> dict:
        heat = cam(analyzer, fp, class_index, layer)
        out = {"Grad-CAM": heat.numpy()}
        try:
            out["guided Grad-CAM"] = guided(analyzer, fp, class_index, heat).numpy()
        except AttributionError:   # no ReLU to guide: the map alone
            pass
        return out
