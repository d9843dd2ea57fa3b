"""Feature visualization by optimization: an image that drives a unit (or a channel) hard, refined step by step.

    vis = Visualizer(model, layer_info, spec, [12], (4, 4), VisSettings())   # conv6 channel 12 at (4, 4)
    vis.run(32)                       # 32 steps; call again to go on (the window does a few per frame)
    vis.pictures()                    # (K, C, h, w) in [0, 1]: the optimized box of each channel
    vis.values()                      # each one's activation, without the transforms

A unit's activation depends only on the input pixels in its receptive field, so for a unit only its box is
optimized: the model runs on that crop (aligned to the layer's total stride, so every position in the unit's cone
is computed from the same pixels as in the whole image; checked once against the whole image, which is used where
they differ), and the forward stops at the unit's layer. K channels at the same position share the box and run as
one batch of K images (W's mosaic, the atlas). A channel target (position None) is the channel's mean over the whole
image. Methods (VisMethod): DVT's regularized gradient ascent in pixels, Lucid's Fourier parameterization with
transforms and Adam, and accentuation of a start image (the frame). Definitions and settings: docs/featvis.md.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

import numpy as np
import torch
from .featvis_ops import Adam, RedirectedReLU, diversity, frozen, layer_output, needs_grad  # noqa: F401
from .featvis_param import Fourier, Pixels, colour_matrix, gaussian_blur, transform
from .graph import LayerInfo
from .targets import AttributionError


class VisMethod(enum.Enum):
    """How the image is parameterized and regularized. The value is the name on the command line."""
    DVT = ("dvt", "gradient ascent, DVT")
    FOURIER = ("fourier", "Fourier, Lucid")
    ACCENTUATE = ("accentuate", "accentuated frame")

    def __new__(cls, value: str, label: str):
        m = object.__new__(cls)
        m._value_, m.label = value, label
        return m


@dataclass(frozen=True)
class VisSettings:
    """DVT's defaults are the settings its toolbox ships (Yosinski et al. 2015: L2 decay 1e-4, a Gaussian blur of
    radius 1.0 every 4 steps, no pixel clipping by norm); its step is normalised by the gradient's mean magnitude
    (lr in pixel units), so that one setting fits models whose gradients differ by orders of magnitude. Fourier and
    accentuation use Lucid's Adam with lr 0.05 and its 1/f spectrum, shifted by up to a sixteenth of the box each
    step (a 2-pixel shift lost conv3's small fields: 94% of its channels reached the data set's best, 1 pixel
    100% on its worst six); `keep` weighs accentuation's closeness term."""
    method: VisMethod = VisMethod.FOURIER
    steps: int = 256
    seed: int = 0
    lr: float = 0.05
    decay: float = 1e-4
    blur_radius: float = 1.0
    blur_every: int = 4
    norm_pct: float = 0.0
    jitter: int = -1              # pixels of random shift each step; -1: a sixteenth of the box (at least 1)
    keep: float = 0.1
    diversity: float = 0.0        # Lucid's diversity term: K images of one channel pushed apart (their Gram matrices)

    def key(self) -> str:
        d = asdict(self)
        d["method"] = self.method.value
        return ",".join(f"{k}={v}" for k, v in sorted(d.items()))


class Visualizer:
    """K channels of one layer, at one position (a unit each) or as channel means (position None)."""

    def __init__(self, model: torch.nn.Module, layer: LayerInfo, spec, channels: list[int],
                 position: tuple[int, int] | None, settings: VisSettings, start: torch.Tensor | None = None,
                 colour: torch.Tensor | None = None, box: bool = True, bf16: bool = False):
        """spec: the model's InputSpec (size, mean, std, channels). start: (C, H, W) in [0, 1], the frame the
        accentuation starts from (and stays close to). colour: a colour matrix (featvis_param.colour_matrix) in
        place of the one chosen from the spec. box=False optimizes the whole image even for a unit (the test's
        reference). bf16: the model runs under bfloat16 autocast on channels-last inputs (1.5x faster where the CPU
        has bf16 units; the app's --precision choice)."""
        if len(layer.shape) != 3 and position is not None:
            raise AttributionError(f"'{layer.name}' has no spatial positions: optimize its channels instead")
        if settings.method is VisMethod.ACCENTUATE and start is None:
            raise AttributionError("accentuation starts from an image: there is none")
        self.model, self.layer, self.settings, self.bf16 = model, layer, settings, bf16
        self.channels, self.position = list(channels), position
        dev = next((p.device for p in model.parameters()), torch.device("cpu"))   # the model's (--device)
        self.device = dev
        self.mean = torch.tensor(spec.mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
        self.std = torch.tensor(spec.std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
        self.gen = torch.Generator().manual_seed(settings.seed)
        H, W = spec.size
        self.crop = (0, 0, H, W)
        self.at = position
        if position is not None and box and layer.rf is not None:
            self.crop, self.at = self._box(spec, position)
        t, l, b, r = self.crop
        h, w = b - t, r - l
        m = (settings.jitter if settings.jitter >= 0 else max(1, round(min(h, w) / 16))) \
            if settings.method is not VisMethod.DVT else 0
        self.margin, self.hw = m, (h, w)
        k, c = len(self.channels), spec.channels
        base = None
        if start is not None and settings.method is VisMethod.ACCENTUATE:   # the others start from noise
            start = start.float()
            if start.shape[0] != c:   # the frame as RGB for a grey model: its mean
                start = start.mean(0, keepdim=True).expand(c, -1, -1)
            full = torch.nn.functional.pad(start[None], (m, m, m, m), mode="replicate")
            base = full[:, :, t:t + h + 2 * m, l:l + w + 2 * m].expand(k, -1, -1, -1).contiguous().to(self.device)
        self.start = base
        if settings.method is VisMethod.DVT:
            self.param = Pixels(k, c, h, w, self.gen, None, self.device)
            self.opt = None
        else:
            cm = (colour if colour is not None else colour_matrix(spec.mean, c)).to(self.device)
            self.param = Fourier(k, c, h + 2 * m, w + 2 * m, cm, self.gen, base)
            self.opt = Adam(self.param.params(), settings.lr)
        self.steps, self.dead = 0, True
        self.first = self.values()
        with torch.no_grad(), self._frozen():   # the layer's typical activation: the objective's unit
            out = layer_output(self.model, layer, (self._centre(self.param.image()) - self.mean) / self.std)
            self.scale = out.abs().mean().clamp_min(1e-8)

    # --- the objective --------------------------------------------------------------------------------------
    def _acts(self, img: torch.Tensor) -> torch.Tensor:
        """(K,) each image's target activation; img (K, C, h, w) in pixels. The ReLUs' gradient is redirected
        (RedirectedReLU) only while some target is still at 0 (the mode costs a Python call per op)."""
        x = (img - self.mean) / self.std
        if self.bf16:
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                out = layer_output(self.model, self.layer, x.contiguous(memory_format=torch.channels_last),
                                   redirect=self.dead).float()
        else:
            out = layer_output(self.model, self.layer, x, redirect=self.dead)
        idx = torch.arange(len(self.channels), device=out.device)
        ch = torch.tensor(self.channels, device=out.device)
        self.out = out
        acts = out[idx, ch].flatten(1).mean(1) if self.at is None and out.dim() > 2 else \
            out[idx, ch] if self.at is None else out[idx, ch, self.at[0], self.at[1]]
        self.dead = bool((acts.detach() <= 0).any())
        return acts

    def _box(self, spec, position) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
        """The crop that holds the unit's receptive field, its top-left on the layer's stride grid, and the unit's
        position in the crop's output; the whole image where the crop does not reproduce the unit exactly."""
        H, W = spec.size
        rf, (y, x) = self.layer.rf, position
        jy, jx = int(round(rf.stride[0])), int(round(rf.stride[1]))
        t, l, b, r = rf.box(y, x)
        top, left = max(0, t) // jy * jy, max(0, l) // jx * jx
        crop, at = (top, left, min(H, b), min(W, r)), (y - top // jy, x - left // jx)
        probe = torch.rand((1, spec.channels, H, W), generator=torch.Generator().manual_seed(1)).to(self.device)
        with self._frozen():
            whole = layer_output(self.model, self.layer, (probe - self.mean) / self.std)[0, :, y, x]
            try:
                part = layer_output(self.model, self.layer,
                                    (probe[:, :, crop[0]:crop[2], crop[1]:crop[3]] - self.mean) / self.std)
                part = part[0, :, at[0], at[1]]
            except (IndexError, RuntimeError):
                return (0, 0, H, W), (y, x)
        if part.shape != whole.shape or (part - whole).abs().max() > 1e-4 * whole.abs().max() + 1e-6:
            return (0, 0, H, W), (y, x)
        return crop, at

    def _frozen(self):
        return frozen(self.model)

    # --- steps ------------------------------------------------------------------------------------------------
    def run(self, n: int) -> None:
        """n more steps (never beyond settings.steps)."""
        s = self.settings
        n = max(0, min(n, s.steps - self.steps))
        with self._frozen():
            for _ in range(n):
                if s.method is VisMethod.DVT:
                    self._dvt_step()
                else:
                    self._adam_step()
                self.steps += 1

    def _adam_step(self) -> None:
        s = self.settings
        img = self.param.image()
        img = transform(img, self.margin, self.hw, self.gen, s.method is VisMethod.FOURIER)
        acts = needs_grad(self._acts(img), self.layer)
        loss = -(acts / self.scale).sum()
        if s.diversity > 0 and len(self.channels) > 1:
            loss = loss + s.diversity * diversity(self.out)
        if s.method is VisMethod.ACCENTUATE:
            centre = self._centre(self.param.image())
            loss = loss + s.keep * ((centre - self._centre(self.start)) ** 2).mean((1, 2, 3)).sum() / 0.01
        self.opt.step(torch.autograd.grad(loss, self.opt.params))

    def _dvt_step(self) -> None:
        s, px = self.settings, self.param.pixels
        acts = needs_grad(self._acts(px), self.layer)
        (g,) = torch.autograd.grad(-acts.sum(), px)   # a loss, as RedirectedReLU expects its gradient
        with torch.no_grad():
            scale = g.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
            px -= s.lr * g / scale
            centre = self.mean.expand_as(px) if px.shape[1] == self.mean.shape[1] else px.mean()
            px -= s.decay * (px - centre)
            if s.blur_every and s.blur_radius > 0 and (self.steps + 1) % s.blur_every == 0:
                px.copy_(gaussian_blur(px, s.blur_radius))
            if s.norm_pct > 0:
                norms = (px - centre).norm(dim=1, keepdim=True)
                cut = torch.quantile(norms.flatten(1), s.norm_pct / 100, dim=1).view(-1, 1, 1, 1)
                px.copy_(torch.where(norms < cut, centre, px))
            px.clamp_(0, 1)

    def _centre(self, img: torch.Tensor) -> torch.Tensor:
        m = self.margin
        return img if m == 0 else img[:, :, m:img.shape[2] - m, m:img.shape[3] - m]

    # --- results ----------------------------------------------------------------------------------------------
    def pictures(self) -> torch.Tensor:
        """(K, C, h, w) in [0, 1]: each channel's optimized box (the whole image for a channel target)."""
        with torch.no_grad():
            return self._centre(self.param.image()).detach().float().cpu()

    def rgb(self) -> np.ndarray:
        """pictures() as RGB uint8, (K, h, w, 3): a grey picture repeated into the three colours."""
        out = (self.pictures().permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        return np.repeat(out, 3, axis=3) if out.shape[3] == 1 else out

    def values(self) -> torch.Tensor:
        """(K,) each target's activation on its picture, without the transforms."""
        with torch.no_grad(), self._frozen():
            return self._acts(self._centre(self.param.image())).detach().float().cpu()

    @property
    def done(self) -> bool:
        return self.steps >= self.settings.steps


__all__ = ["VisMethod", "VisSettings", "Visualizer", "layer_output"]
