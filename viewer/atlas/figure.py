"""A sheet like the paper's Figure 3 (Springenberg et al. 2015): for each of N units of a layer, its top-K
receptive-field patches, then their deconvnet reconstructions, then their guided-backprop ones; where the atlas
was made with --optimize, first what the unit wants (its optimized image).

Patches are enlarged with nearest-neighbour pixels; the part of a box past the image border (padding) is a
grey checkerboard; each reconstruction is shown signed (grey = 0) at its own robust scale."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..render.images import padded, robust_scale, signed_rgb
from .scan import LayerAtlas

BG, FG = (24, 26, 30), (225, 225, 225)


def strongest_units(la: LayerAtlas, n: int) -> list[int]:
    """The n channels whose top-K activations are highest on average (the most active units)."""
    score = np.where(np.isfinite(la.values), la.values, 0).mean(1)
    return [int(c) for c in np.argsort(-score, kind="stable")[:n]]


def _tile(rgb: np.ndarray, valid: np.ndarray, zoom: int) -> np.ndarray:
    img = padded(rgb, valid)
    return np.repeat(np.repeat(img, zoom, 0), zoom, 1)


def unit_rows(la: LayerAtlas, c: int, zoom: int) -> list[np.ndarray]:
    """Three rows of K tiles: the patches, deconvnet, guided backprop."""
    rows = []
    patches = [_tile(la.patches[c, k], la.valid[c, k], zoom) for k in range(la.values.shape[1])]
    rows.append(patches)
    for m in ("deconvnet", "guided"):
        rows.append([_tile(signed_rgb(g, robust_scale(g)), la.valid[c, k], zoom)
                     for k, g in enumerate(la.recons[m][c])])
    return rows


def render_figure(layers: list[LayerAtlas], units: int = 4, zoom: int | None = None, gap: int = 3) -> np.ndarray:
    """The sheet as an RGB uint8 image: per layer a heading, per unit a label and its three blocks of K tiles
    side by side (patches | deconvnet | guided backprop)."""
    import cv2
    blocks = []
    for la in layers:
        p = la.patches.shape[2]
        z = zoom or max(2, 64 // p)
        k = la.values.shape[1]
        tile = p * z
        block_w = k * (tile + gap) - gap
        opt_w = tile + 16 if la.optimized is not None else 0   # --optimize: what the unit wants, first
        label_w = 150 + opt_w
        width = label_w + 3 * block_w + 2 * 16
        head = np.full((34, width, 3), BG, np.uint8)
        if opt_w:
            cv2.putText(head, "wants", (150, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.55, FG, 1, cv2.LINE_AA)
        cv2.putText(head, f"{la.name}: top {k} patches", (label_w, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.55, FG, 1,
                    cv2.LINE_AA)
        for j, title in enumerate(("deconvnet", "guided backprop")):
            cv2.putText(head, title, (label_w + (j + 1) * (block_w + 16), 24), cv2.FONT_HERSHEY_SIMPLEX, 0.55, FG,
                        1, cv2.LINE_AA)
        parts = [head]
        for c in strongest_units(la, units):
            row = np.full((tile + gap, width, 3), BG, np.uint8)
            cv2.putText(row, f"{la.name} unit {c}", (6, tile // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, FG, 1,
                        cv2.LINE_AA)
            if opt_w:
                row[:tile, 150:150 + tile] = cv2.resize(la.optimized[c], (tile, tile), interpolation=cv2.INTER_NEAREST)
            for j, tiles in enumerate(unit_rows(la, c, z)):
                x0 = label_w + j * (block_w + 16)
                for i, t in enumerate(tiles):
                    row[:tile, x0 + i * (tile + gap):x0 + i * (tile + gap) + tile] = t
            parts.append(row)
        blocks.append(np.concatenate(parts, 0))
    width = max(b.shape[1] for b in blocks)
    padded = [np.pad(b, ((0, 12), (0, width - b.shape[1]), (0, 0)), constant_values=BG[0]) for b in blocks]
    return np.concatenate(padded, 0)


def save_figure(path: Path, img: np.ndarray) -> None:
    import cv2
    tmp = path.with_name(f".{path.name}.partial.png")
    if not cv2.imwrite(str(tmp), img[:, :, ::-1]):
        raise OSError(f"{path}: cannot write the figure")
    tmp.replace(path)
