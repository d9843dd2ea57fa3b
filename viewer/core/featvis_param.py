"""Image parameterizations and transforms for feature visualization (featvis.py): what the optimizer changes, and how
an image is made from it.

- Pixels (DVT, Yosinski et al. 2015): the image itself, in [0, 1], clipped after each step.
- Fourier (Olah et al. 2017, Lucid/Lucent): a spectrum per colour channel, scaled by 1/f so that every frequency
  starts equally easy to change, turned into an image by the inverse real FFT, its colours mixed by a
  decorrelating matrix (ImageNet's for ImageNet models, one measured from images, or the identity), and squashed
  into (0, 1) by a sigmoid. With a base (accentuation, Hamblin et al. 2024), the spectrum is added to the logit
  of a real image: zero spectrum = that image.
- Transforms each step (transformation robustness): a random shift within the margin (jitter), for Fourier also
  a small random scale and rotation.
Definitions and the settings' sources: docs/featvis.md.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Lucid's colour correlation of ImageNet images, square root by SVD (lucent.optvis.param.color)
IMAGENET_COLOUR = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
IMAGENET_MEAN = (0.485, 0.456, 0.406)


def colour_matrix(mean, channels: int, images: torch.Tensor | None = None) -> torch.Tensor:
    """The decorrelating colour matrix, normalised by its largest column norm (as Lucid does): ImageNet's for a
    model normalised with ImageNet's mean, the square root of the colour covariance of `images` ((N, C, H, W) in
    [0, 1]) where given, else the identity (and always for a grey model)."""
    if channels != 3:
        return torch.eye(channels)
    if images is not None:
        flat = images.float().permute(1, 0, 2, 3).reshape(3, -1)
        cov = torch.cov(flat)
        vals, vecs = torch.linalg.eigh(cov)
        m = vecs @ torch.diag(vals.clamp_min(0).sqrt())
    elif all(abs(a - b) < 2e-3 for a, b in zip(mean, IMAGENET_MEAN)):
        m = IMAGENET_COLOUR.clone()
    else:
        return torch.eye(3)
    return m / m.norm(dim=0).max()


def _freqs(h: int, w: int) -> torch.Tensor:
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


class Fourier:
    """Spectrum (K, C, h, w // 2 + 1, 2) -> images (K, C, h, w) in (0, 1). base: (K, C, h, w) images in [0, 1]
    that a zero spectrum gives (accentuation), or None (a zero spectrum gives grey)."""

    def __init__(self, k: int, channels: int, h: int, w: int, colour: torch.Tensor, generator: torch.Generator,
                 base: torch.Tensor | None = None, sd: float = 0.01):
        dev = colour.device   # the model's: the generator draws on the CPU, the tensors live there
        self.h, self.w, self.colour = h, w, colour
        self.scale = (1.0 / _freqs(h, w).clamp_min(1.0 / max(h, w)))[None, None, :, :, None].to(dev)
        init = torch.randn((k, channels, h, w // 2 + 1, 2), generator=generator) * (sd if base is None else 0.0)
        self.spectrum = init.to(dev).requires_grad_()
        self.base = None if base is None else torch.logit(base.float().clamp(1e-3, 1 - 1e-3)).to(dev)

    def params(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def image(self) -> torch.Tensor:
        spec = torch.view_as_complex((self.spectrum * self.scale).contiguous())
        t = torch.fft.irfftn(spec, s=(self.h, self.w), norm="ortho") / 4.0   # Lucid's constant, kept for its lr
        t = torch.einsum("kchw,dc->kdhw", t, self.colour)
        return torch.sigmoid(t if self.base is None else t + self.base)


class Pixels:
    """The image itself (K, C, h, w) in [0, 1]; DVT starts from the dataset mean plus a little noise."""

    def __init__(self, k: int, channels: int, h: int, w: int, generator: torch.Generator,
                 base: torch.Tensor | None = None, device: torch.device | str = "cpu"):
        start = torch.full((k, channels, h, w), 0.5) + torch.randn((k, channels, h, w), generator=generator) * 0.05 \
            if base is None else base.float().clone()
        self.pixels = start.clamp(0, 1).to(device).requires_grad_()

    def params(self) -> list[torch.Tensor]:
        return [self.pixels]

    def image(self) -> torch.Tensor:
        return self.pixels


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur with reflected borders (DVT's regulariser), radius 3 sigma."""
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-t * t / (2 * sigma * sigma))
    g = g / g.sum()
    c = x.shape[1]
    pad = min(r, x.shape[-1] - 1, x.shape[-2] - 1)
    if pad < r:   # a tiny window: pad by replication instead
        x = F.pad(x, (r, r, r, r), mode="replicate")
    else:
        x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def transform(img: torch.Tensor, margin: int, out_hw: tuple[int, int], generator: torch.Generator,
              scale_rotate: bool) -> torch.Tensor:
    """A random window of out_hw from an image that is `margin` larger on each side (jitter), optionally scaled by
    0.95-1.05 and rotated by -5..5 degrees about its centre first (Lucid's standard transforms, sized for small
    inputs)."""
    if scale_rotate:
        k = img.shape[0]
        s = 1 + (torch.rand(k, generator=generator) - 0.5) * 0.1
        a = (torch.rand(k, generator=generator) - 0.5) * (10 * math.pi / 180)
        s, a = s.to(img.device), a.to(img.device)
        theta = torch.zeros(k, 2, 3, device=img.device)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = a.cos() / s, -a.sin() / s, a.sin() / s, \
            a.cos() / s
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        img = F.grid_sample(img, grid, padding_mode="border", align_corners=False)
    if margin == 0:
        return img
    dy, dx = (int(v) for v in torch.randint(0, 2 * margin + 1, (2,), generator=generator))
    return img[:, :, dy:dy + out_hw[0], dx:dx + out_hw[1]]
