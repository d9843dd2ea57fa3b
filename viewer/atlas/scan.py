"""The unit atlas (torch + numpy): the top-K images of every channel, and their patches and reconstructions.

For each channel of a layer with a spatial map, an image counts once, at the channel's strongest position in
that image (the first in row-major order where several positions tie), as in the Deep Visualization Toolbox
and the paper's Figure 3. Over the data set the K images with the highest such activation are kept; equal
activations are ordered by image index (the earlier image first), so the result never depends on batching.

Each entry then gets the unit's receptive-field box cut from the model's input image (RFBox: the full box,
also where it reaches past the border; the part outside the image is padding, marked False in `valid`) and
the unit's reconstruction by each chosen method (by default every one registered in core/methods.py: guided
backprop, deconvnet and the plain gradient), cut to the same box.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core import methods as registry
from ..core.attribution import Analyzer, UnitTarget
from ..core.cone_images import ImageUnit, reconstruct_images
from ..core.graph import LayerInfo
from ..core.lean import LeanForward
from ..core.methods import AttributionMethod
from ..core.rules import Method
from ..render.images import (
    cut_box as cut,  # the box of an (..., H, W) array, padded, and its mask
)


IMAGES_PER_PASS = 128   # the reconstructions' batch: one forward pass and one cone per layer and rule for all


class TopK:
    """The running top K (value, image, y, x) of each of C channels, merged batch by batch."""

    def __init__(self, channels: int, k: int):
        self.k = k
        self.values = np.full((channels, 0), -np.inf, np.float32)
        self.images = np.zeros((channels, 0), np.int64)
        self.ys = np.zeros((channels, 0), np.int64)
        self.xs = np.zeros((channels, 0), np.int64)

    def update(self, acts: np.ndarray, image_ids: np.ndarray) -> None:
        """acts: (B, C, H, W) activations of B images with the given data-set indices."""
        b, c, h, w = acts.shape
        flat = acts.reshape(b, c, h * w)
        arg = flat.argmax(-1)                                   # first maximum in row-major order
        peak = np.take_along_axis(flat, arg[..., None], -1)[..., 0]
        self.update_scores(peak, arg // w, arg % w, image_ids)

    def update_tensor(self, acts: torch.Tensor, image_ids: np.ndarray) -> None:
        """update() from a (B, C, H, W) tensor, the strongest positions found by torch (numpy's argmax over a
        channels-last map took a tenth of the atlas's scan): the same first maximum in row-major order."""
        # (B, H*W, C): a view of a channels-last map (and of a plain one), reduced over the positions without the
        # copy that flatten(2) makes of a channels-last map. The peaks first (amax: a third of max()'s time with
        # its indices), then the positions only of the images that can enter a channel's top K (all in the first
        # batches, a few later); argmax gives the first maximum, as max() does
        flat = acts.detach().float().permute(0, 2, 3, 1).flatten(1, 2)
        peak = flat.amax(1)
        kth = torch.from_numpy(self.values[:, -1] if self.values.shape[1] == self.k else
                               np.full(len(self.values), -np.inf, np.float32)).to(peak.device)
        bs, cs = torch.nonzero((peak >= kth) | peak.isnan(), as_tuple=True)
        if len(bs) * 4 > peak.numel():
            arg = flat.argmax(1)
        else:                                   # the others' positions are never read: they cannot enter
            arg = torch.zeros(peak.shape, dtype=torch.long, device=peak.device)
            arg[bs, cs] = flat[bs, :, cs].argmax(1)
        peak, arg = peak.cpu().numpy(), arg.cpu().numpy()
        self.update_scores(peak, arg // acts.shape[-1], arg % acts.shape[-1], image_ids)

    def update_scores(self, scores: np.ndarray, ys: np.ndarray, xs: np.ndarray, image_ids: np.ndarray) -> None:
        """scores, ys, xs: (B, C): each image's score for each channel and the position its patch is cut at."""
        b, c = scores.shape
        vals = np.concatenate([self.values, scores.T.astype(np.float32)], 1)
        imgs = np.concatenate([self.images, np.broadcast_to(image_ids[None, :], (c, b))], 1)
        ys = np.concatenate([self.ys, ys.T], 1)
        xs = np.concatenate([self.xs, xs.T], 1)
        order = np.lexsort((imgs, -vals), axis=-1)[:, :self.k]  # highest value first, then lowest image index
        self.values, self.images = np.take_along_axis(vals, order, 1), np.take_along_axis(imgs, order, 1)
        self.ys, self.xs = np.take_along_axis(ys, order, 1), np.take_along_axis(xs, order, 1)


def atlas_layers(layers: list[LayerInfo], names: list[str] | None = None) -> list[LayerInfo]:
    """The layers an atlas covers: those with a spatial map and a receptive field (all of them by default)."""
    spatial = [l for l in layers if len(l.shape) == 3 and l.rf is not None]
    if not names:
        return spatial
    known = {l.name: l for l in spatial}
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f"no spatial layer named {', '.join(missing)} (atlas layers: {', '.join(known)})")
    return [known[n] for n in names]


@torch.no_grad()
def scan(analyzer: Analyzer, layers: list[LayerInfo], batches, k: int, progress=None) -> dict[str, TopK]:
    """batches: iterable of (x (B, 3, H, W) normalised float32, data-set indices (B,)). One forward pass per
    batch, in fp32 (near-ties would reorder the top K in bf16), lean: BatchNorm folded, ReLUs in place, nothing
    past the last layer (core/lean.py)."""
    tops = {l.name: TopK(l.channels, k) for l in layers}
    forward = LeanForward(analyzer, [l.name for l in layers])
    for x, ids in batches:
        outputs = forward(x)
        for l in layers:
            tops[l.name].update_tensor(outputs[l.name], np.asarray(ids, np.int64))
        if progress is not None:
            progress(len(ids))
    return tops


def rf_box(layer: LayerInfo, y: int, x: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the unit's receptive field, not clipped to the image."""
    return layer.rf.box(int(y), int(x))


@dataclass
class LayerAtlas:
    """One layer's atlas: (C, K) entries and their (C, K, ...) patches, masks and reconstructions."""
    name: str
    values: np.ndarray       # (C, K) float32 activation at the entry
    images: np.ndarray       # (C, K) int64 data-set index of the image
    ys: np.ndarray           # (C, K) position in the layer's map
    xs: np.ndarray
    patches: np.ndarray      # (C, K, P, P, 3) uint8: the receptive-field box of the model's input image
    valid: np.ndarray        # (C, K, P, P) bool: False where the box is past the image border (padding)
    recons: dict[str, np.ndarray]   # method value -> (C, K, 3, P, P) float32, cut to the same box
    optimized: np.ndarray | None = None          # (C, h, w, 3) uint8: what each channel wants (--optimize)
    optimized_values: np.ndarray | None = None   # (C,) float32: the activation it reaches
    optimized_diverse: np.ndarray | None = None  # (C, N, h, w, 3) uint8: N more, pushed apart (--optimize-diverse N)


def reconstruct(analyzer: Analyzer, layers: list[LayerInfo], tops: dict[str, TopK], views: dict[int, np.ndarray],
                to_input, progress=None, methods: list[AttributionMethod] | None = None) -> list[LayerAtlas]:
    """Patches and reconstructions of every entry: the ReLU rules' for IMAGES_PER_PASS images at once (one forward
    pass, one cone per layer and rule: core/cone_images.py), any other method's one image at a time.
    views: data-set index -> the model's input image (H, W, 3) uint8; to_input: that image -> (1, 3, H, W).
    methods: whose reconstructions are stored (default: every registered one with in_atlas, read now)."""
    methods = [m for m in registry.METHODS if m.in_atlas] if methods is None else list(methods)
    by_name = {l.name: l for l in layers}
    out: dict[str, LayerAtlas] = {}
    for l in layers:
        t = tops[l.name]
        p0 = rf_box(l, 0, 0)
        ph, pw = p0[2] - p0[0], p0[3] - p0[1]
        c, k = t.values.shape
        out[l.name] = LayerAtlas(l.name, t.values, t.images, t.ys, t.xs, np.zeros((c, k, ph, pw, 3), np.uint8),
                                 np.zeros((c, k, ph, pw), bool),
                                 {m.value: np.zeros((c, k, 3, ph, pw), np.float32) for m in methods})
    work: dict[int, list[tuple[str, int, int]]] = {}        # image -> (layer, channel, slot)
    for name, t in tops.items():
        for ch, slot in zip(*np.nonzero(t.images >= 0)):
            if np.isfinite(t.values[ch, slot]):
                work.setdefault(int(t.images[ch, slot]), []).append((name, int(ch), int(slot)))
    rules = [m for m in methods if isinstance(getattr(m, "rule", None), Method)]    # the ReLU rules: batched
    ids = sorted(work)
    h, w = views[ids[0]].shape[:2] if ids else (32, 32)
    per_pass = max(1, IMAGES_PER_PASS * 32 * 32 // (h * w))    # 128 at 32x32, 2 at 224x224: a batch's results
    for start in range(0, len(ids), per_pass):                 # (every entry, every rule, the whole image) fit
        batch = ids[start:start + per_pass]
        units = [ImageUnit(b, n, ch, int(tops[n].ys[ch, s]), int(tops[n].xs[ch, s]))
                 for b, img_id in enumerate(batch) for n, ch, s in work[img_id]]
        done: dict = {}
        if rules:
            x = torch.cat([to_input(views[i]) for i in batch]).contiguous(memory_format=torch.channels_last)
            done = reconstruct_images(analyzer, x, units, [m.rule for m in rules])[1]
        row: dict[str, int] = {}                                # the next row of each layer's batched answer
        for b, img_id in enumerate(batch):
            view, entries = views[img_id], work[img_id]
            chw = np.ascontiguousarray(view.transpose(2, 0, 1))
            ready: list[dict] = []                              # per entry: method name -> its image
            for n, ch, s in entries:
                k = row[n] = row.get(n, -1) + 1
                ready.append({m.value: done[n][m.rule][k].numpy() for m in rules if m.rule in done.get(n, {})})
            missing = [m for m in methods if any(m.value not in r for r in ready)]
            if missing:                                         # one image at a time: LRP, a path not a chain
                fp = analyzer.forward(to_input(view), grad=False)
                targets = [UnitTarget(n, ch, int(tops[n].ys[ch, s]), int(tops[n].xs[ch, s])) for n, ch, s in entries]
                for m in missing:
                    imgs = m.reconstruct(analyzer, fp, targets).images.numpy()
                    for r, img in zip(ready, imgs):
                        r.setdefault(m.value, img)
            for (n, ch, s), r in zip(entries, ready):
                la, box = out[n], rf_box(by_name[n], int(tops[n].ys[ch, s]), int(tops[n].xs[ch, s]))
                patch, valid = cut(chw, box)
                la.patches[ch, s], la.valid[ch, s] = patch.transpose(1, 2, 0), valid
                for m in methods:
                    la.recons[m.value][ch, s] = cut(r[m.value], box)[0]
            if progress is not None:
                progress(len(entries))
    return [out[l.name] for l in layers]
