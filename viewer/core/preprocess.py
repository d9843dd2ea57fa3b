"""From a camera frame to the model's input: centre square crop, resize, normalise (torch + numpy only)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class InputSpec:
    size: tuple[int, int] = (32, 32)                 # (H, W) the model is fed
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def from_meta(cls, meta: dict, default_size=(32, 32)) -> "InputSpec":
        size = tuple(meta.get("input_size", default_size))
        return cls((int(size[0]), int(size[1])), tuple(meta.get("mean", (0.0,) * 3)),
                   tuple(meta.get("std", (1.0,) * 3)))


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
    return x[0].round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def normalised(images: np.ndarray, mean, std, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, 3) images -> float32 (N, 3, H, W), (x / 255 - mean) / std, on the device. The uint8
    batch moves first (a quarter of the bytes of float), so on a GPU the conversion runs there."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.as_tensor(mean, dtype=torch.float32).to(device).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).to(device).view(1, 3, 1, 1)
    return (x - m) / s


def to_tensor(view: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """(H, W, 3) uint8 -> normalised (1, 3, H, W) float32."""
    return normalised(view[None], spec.mean, spec.std)
