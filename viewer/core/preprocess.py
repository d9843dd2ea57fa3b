"""From a camera frame to the model's input: centre crop, resize, normalise (torch + numpy only).

A model with one input channel (InputSpec.channels == 1: its first convolution takes one channel, or its
checkpoint says so) sees the frame in grey (ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B); the model view
is that grey image in three equal channels, so what is shown is what the model sees."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class InputSpec:
    size: tuple[int, int] = (32, 32)                 # (H, W) the model is fed
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)        # per input channel (a grey model: one value)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    channels: int = 3                                # 3 (RGB) or 1 (grey)

    @classmethod
    def from_meta(cls, meta: dict, default_size=(32, 32), channels: int | None = None) -> "InputSpec":
        size = tuple(meta.get("input_size", default_size))
        c = int(meta.get("in_channels", channels or 3))
        return cls((int(size[0]), int(size[1])), tuple(meta.get("mean", (0.0,) * c))[:c],
                   tuple(meta.get("std", (1.0,) * c))[:c], c)


def input_channels(model: torch.nn.Module) -> int:
    """The input channels of the model's first convolution (3 where it has none)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.conv._ConvNd):
            return int(m.in_channels)
    return 3


def spec_for(meta: dict, model: torch.nn.Module) -> InputSpec:
    """The input spec of a loaded model: its metadata, with its first convolution's input channels."""
    return InputSpec.from_meta(meta, channels=input_channels(model))


def centre_crop_box(h: int, w: int, aspect: float = 1.0) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest centred crop with width / height = aspect."""
    ch, cw = (h, int(round(h * aspect))) if w / h >= aspect else (int(round(w / aspect)), w)
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def crop_box(frame_shape: tuple[int, ...], spec: InputSpec) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the part of a frame the model sees: the largest centred crop with the
    aspect of the model's input."""
    return centre_crop_box(frame_shape[0], frame_shape[1], spec.size[1] / spec.size[0])


def model_view(frame: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The exact image the model sees, as RGB uint8 (H, W, 3): centre crop, area-averaged resize."""
    top, left, ch, cw = crop_box(frame.shape, spec)
    crop = torch.from_numpy(np.ascontiguousarray(frame[top:top + ch, left:left + cw]))
    x = crop.permute(2, 0, 1)[None].float()  # (1, 3, h, w)
    if (ch, cw) != spec.size:
        if ch >= spec.size[0] and cw >= spec.size[1]:
            x = F.interpolate(x, size=spec.size, mode="area")
        else:
            x = F.interpolate(x, size=spec.size, mode="bilinear", align_corners=False)
    if spec.channels == 1:
        x = (x * LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True).expand(-1, 3, -1, -1)
    return x[0].round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


LUMA = torch.tensor([0.299, 0.587, 0.114])


def normalised(images: np.ndarray, mean, std, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) images -> float32 (N, C, H, W), (x / 255 - mean) / std, on the device. The uint8
    batch moves first (a quarter of the bytes of float), so on a GPU the conversion runs there."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    c = x.shape[1]
    m = torch.as_tensor(mean, dtype=torch.float32).to(device).view(1, c, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).to(device).view(1, c, 1, 1)
    return (x - m) / s


def to_batch(views: np.ndarray, spec: InputSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, H, W, 3) model views -> the normalised (N, spec.channels, H, W) float32 input."""
    return normalised(views[..., :spec.channels], spec.mean, spec.std, device)


def to_tensor(view: np.ndarray, spec: InputSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) model view uint8 -> normalised (1, spec.channels, H, W) float32, on the device."""
    return to_batch(view[None], spec, device)
