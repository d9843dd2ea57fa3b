"""Numpy-only image making: colormaps, signed-image display, tiling, and a flicker-free scale."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# Polynomial fit of matplotlib's viridis (Matt Zucker, shadertoy WfS3zD, CC0): c0 + t c1 + ... + t^6 c6
_VIRIDIS = np.array([
    [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
    [0.1050930431085774, 1.404613529898575, 1.384590162594685],
    [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
    [-4.634230498983486, -5.799100973351585, -19.33244095627987],
    [6.228269936347081, 14.17993336680509, 56.69055260068105],
    [4.776384997670288, -13.74514537774601, -65.35303263337234],
    [-5.435455855934631, 4.645852612178535, 26.3124352495832],
])


@lru_cache(maxsize=None)
def lut(name: str = "viridis") -> np.ndarray:
    """(256, 3) uint8 colour table."""
    t = np.linspace(0.0, 1.0, 256)
    if name == "grey":
        rgb = np.stack([t, t, t], 1)
    else:
        rgb = sum(_VIRIDIS[k][None, :] * t[:, None] ** k for k in range(7))
    out = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


TINY = 1e-30   # a scale below this is no scale (a switched-off unit's bf16 residue): 255 / 1e-40 is no float32


def usable(scale: float) -> float:
    """The scale to divide by: 1 where it is zero, tiny, or not finite (the image is then ~0 and drawn so)."""
    return float(scale) if TINY < scale < np.inf else 1.0


def to_index(x: np.ndarray, scale: float) -> np.ndarray:
    """Non-negative values -> 0..255 indices, x / scale clipped to [0, 1]."""
    s = usable(scale)
    return np.clip(np.rint(x * (255.0 / s)), 0, 255).astype(np.uint8)


def colormap(x: np.ndarray, scale: float, name: str = "viridis") -> np.ndarray:
    """(...,) values >= 0 -> (..., 3) uint8 RGB."""
    return lookup(to_index(x, scale), name)


def colormap_each(maps: np.ndarray, name: str = "viridis") -> np.ndarray:
    """(K, H, W) values >= 0 -> (K, H, W, 3) uint8, each map stretched to its own maximum (a weak map's
    structure shows; the tiles are no longer comparable with each other)."""
    peak = maps.reshape(len(maps), -1).max(1) if maps.size else np.zeros(len(maps))
    peak = np.where((peak > TINY) & np.isfinite(peak), peak, 1.0)[:, None, None]
    return lookup(np.clip(np.rint(maps * (255.0 / peak)), 0, 255).astype(np.uint8), name)


def lookup(index: np.ndarray, name: str = "viridis") -> np.ndarray:
    """lut(name)[index] for uint8 indices, by np.take: numpy's fancy indexing with a (256, 3) table took 7 ms
    for a 224x224 input's 192 conv6 maps on the UI thread, take about a quarter of that."""
    return np.take(lut(name), index, axis=0)


SCALE_SAMPLE = 1 << 17   # a larger layer's scale is read off an even sample of this many of its values


def layer_scale(act: np.ndarray, q: float = 99.0) -> float:
    """The feature maps' display scale: the q-th percentile of the layer's positive values (the largest value
    alone is one outlier that leaves every other tile dark); 0 where none is positive. A layer of more than
    SCALE_SAMPLE values (conv6 at 224x224: 602,112) is read off every k-th of them: the percentile of 600k values
    took the UI thread 2-7 ms a result, time the worker lost on 2 cores; the sample's is within a few percent
    of it (2.4% at most in 40 random layers) and the window's scale follows it smoothed (SmoothScale) anyway."""
    flat = act.reshape(-1)
    if flat.size > SCALE_SAMPLE:
        flat = flat[::-(-flat.size // SCALE_SAMPLE)]
    pos = flat[flat > 0]
    return float(np.percentile(pos, q)) if pos.size else 0.0


def robust_scale(g: np.ndarray, q: float = 99.5) -> float:
    """The q-th percentile of |g|; 0 for an all-zero image."""
    a = np.abs(g).ravel()
    return float(np.percentile(a, q)) if a.size else 0.0


def signed_rgb_each(gs: np.ndarray, q: float = 99.5, scales: np.ndarray | None = None) -> np.ndarray:
    """signed_rgb of each of N images (N, C, H, W) at its own robust_scale (or the given scales, e.g. the worker's
    robust_scales), in a few array operations (a page of 192 tiles in one go: per tile, the Python calls held the
    interpreter long enough to slow the worker thread)."""
    n = len(gs)
    if n == 0:
        return np.zeros((0, *gs.shape[2:], 3), np.uint8)
    if scales is None:
        flat = np.abs(gs.reshape(n, -1))
        scales = np.percentile(flat, q, axis=1) if flat.shape[1] else np.zeros(n)
    s = np.where((scales > TINY) & (scales < np.inf), scales, 1.0).astype(np.float32)[:, None, None, None]
    if gs.shape[1] == 1:
        gs = np.repeat(gs, 3, 1)
    img = np.clip(0.5 + gs / (2 * s), 0.0, 1.0)
    return np.rint(img.transpose(0, 2, 3, 1) * 255).astype(np.uint8)


def cut_boxes(imgs: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray | None:
    """cut_box of each of N images (N, C, H, W) with its own box, 0 past the border, where every box has the same
    size (a layer's units: one receptive field); None where they differ. One slice copy per image: faster than
    one gather over the page (0.5 against 3 ms for 192 tiles of 27x27)."""
    sizes = {(b - t, r - l) for t, l, b, r in boxes}
    if len(sizes) != 1 or not len(imgs):
        return None
    (h, w), (H, W) = sizes.pop(), imgs.shape[-2:]
    out = np.zeros((len(imgs), imgs.shape[1], h, w), imgs.dtype)
    for i, (t, l, _, _) in enumerate(boxes):
        y0, x0, y1, x1 = max(0, t), max(0, l), min(H, t + h), min(W, l + w)
        if y1 > y0 and x1 > x0:
            out[i, :, y0 - t:y1 - t, x0 - l:x1 - l] = imgs[i, :, y0:y1, x0:x1]
    return out


def signed_rgb(g: np.ndarray, scale: float) -> np.ndarray:
    """(3, H, W) signed -> (H, W, 3) uint8 with zero at mid-grey: 0.5 + g / (2 s), clipped to [0, 1].
    A one-channel image (a grey model's reconstruction) is shown in grey."""
    s = usable(scale)
    if g.shape[0] == 1:
        g = np.repeat(g, 3, 0)
    img = np.clip(0.5 + g / (2 * s), 0.0, 1.0)
    return np.rint(img.transpose(1, 2, 0) * 255).astype(np.uint8)


def relevance_rgb(r: np.ndarray, scale: float) -> np.ndarray:
    """(H, W) signed relevance -> (H, W, 3) uint8 as the LRP literature draws it: white at 0, red for positive,
    blue for negative, full colour at +-scale."""
    t = np.clip(r / usable(scale), -1.0, 1.0)[..., None]
    pos, neg = np.maximum(t, 0), np.maximum(-t, 0)
    rgb = 255.0 * (1.0 - pos * np.array([0.0, 1.0, 1.0]) - neg * np.array([1.0, 1.0, 0.0]))
    return np.rint(rgb).astype(np.uint8)


def relevance_image(recon: np.ndarray) -> tuple[np.ndarray, float]:
    """(3, H, W) input relevance -> (its RGB drawing summed over colours at its own robust scale, that scale)."""
    rel = recon.sum(0)
    scale = robust_scale(rel)
    return relevance_rgb(rel, scale), scale


def heat(g: np.ndarray, scale: float | None = None) -> np.ndarray:
    """(3, H, W) signed -> (H, W, 3) viridis heat map of |g| (max over colour channels)."""
    a = np.abs(g).max(0)
    return colormap(a, scale if scale is not None else robust_scale(a))


def grid_shape(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(rows, cols) for n tiles, near-square for a box of width / height = aspect."""
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    return math.ceil(n / cols), cols


def shrink(maps: np.ndarray, size: int) -> np.ndarray:
    """(N, h, w) maps cut to at most size x size by the rows and columns mosaic's nearest neighbour would show
    (pixel p shows cell floor(p h / size)): colouring them after the cut gives mosaic the same pixels, for a
    fraction of the work where the maps are larger than their tiles (a 224x224 input's 56x56 maps in 33 px tiles)."""
    h, w = maps.shape[-2:]
    if h > size:
        maps = maps[..., (np.arange(size) * h) // size, :]
    if w > size:
        maps = maps[..., (np.arange(size) * w) // size]
    return maps


def mosaic(tiles: np.ndarray, cols: int, size: int, gap: int, fill: tuple[int, int, int]) -> np.ndarray:
    """(N, h, w, 3) tiles, each scaled to size x size by nearest neighbour (pixel p shows cell
    floor(p h / size)), laid out row-major with `gap` pixels between them: one RGB image."""
    n, h, w = tiles.shape[:3]
    rows = -(-n // cols)
    reps_y = np.bincount((np.arange(size) * h) // size, minlength=h)     # output pixels per cell
    reps_x = np.bincount((np.arange(size) * w) // size, minlength=w)
    big = tiles if h == w == size else np.repeat(np.repeat(tiles, reps_y, axis=1), reps_x, axis=2)   # (N, size, size, 3)
    cells = np.empty((rows * cols, size + gap, size + gap, 3), np.uint8)
    cells[:, size:] = fill
    cells[:, :size, size:] = fill
    cells[n:] = fill
    cells[:n, :size, :size] = big
    out = cells.reshape(rows, cols, size + gap, size + gap, 3).transpose(0, 2, 1, 3, 4)
    return out.reshape(rows * (size + gap), cols * (size + gap), 3)[:-gap or None, :-gap or None]


class SmoothScale:
    """A display scale that follows the data's maximum slowly (exponential moving average) so live video
    does not flicker; it rises at once when the data jumps well above it, and can be locked."""

    def __init__(self, alpha: float = 0.15):
        self.alpha, self.value, self.locked = alpha, 0.0, False

    def update(self, target: float) -> float:
        if self.locked or not math.isfinite(target):
            return self.value
        if self.value <= 0 or target > 2 * self.value:
            self.value = target
        else:
            self.value += self.alpha * (target - self.value)
        return self.value

    def reset(self) -> None:
        """Start over (new layer, unit or method), unless the user locked the scale."""
        if not self.locked:
            self.value = 0.0


def cut_box(img: np.ndarray, box: tuple[int, int, int, int], fill=0) -> tuple[np.ndarray, np.ndarray]:
    """The (top, left, bottom, right) box of an (..., H, W) array, `fill` where the box reaches past the
    border, and the (h, w) mask of the pixels inside the image."""
    t, l, b, r = box
    h, w = img.shape[-2:]
    out = np.full(img.shape[:-2] + (b - t, r - l), fill, img.dtype)
    valid = np.zeros((b - t, r - l), bool)
    t0, l0, b0, r0 = max(t, 0), max(l, 0), min(b, h), min(r, w)
    if t0 < b0 and l0 < r0:
        out[..., t0 - t:b0 - t, l0 - l:r0 - l] = img[..., t0:b0, l0:r0]
        valid[t0 - t:b0 - t, l0 - l:r0 - l] = True
    return out, valid


def zoom_default(rf_size: tuple[float, float], input_size: tuple[int, int]) -> bool:
    """Zoom to the receptive field by default where its box is under a third of the input (a conv6 unit's
    19x19 of a 224x224 input; not its 19x19 of 32x32)."""
    return rf_size[0] < input_size[0] / 3 and rf_size[1] < input_size[1] / 3


CHECK = np.array([[90, 90, 90], [130, 130, 130]], np.uint8)


def padded(rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """An (h, w, 3) patch with its padding (valid False: past the image border) as a grey checkerboard."""
    yy, xx = np.mgrid[0:valid.shape[0], 0:valid.shape[1]]
    return np.where(valid[..., None], rgb, CHECK[(yy // 2 + xx // 2) % 2])
