"""The atlas's optimized images (python -m viewer.atlas --optimize [METHOD]): for every channel of every atlas layer,
what it wants (core/featvis.py) at the centre of its map, 256 steps, CHUNK channels per batch; the colours
decorrelated with the data set's own colour covariance (measured on the images that hold entries)."""
from __future__ import annotations

import numpy as np
import torch

from ..core.featvis import Visualizer, VisMethod, VisSettings
from ..core.featvis_param import colour_matrix
from ..core.precision import Precision, choose_precision

CHUNK = 32


DIVERSITY = 100.0   # the diversity term's weight against the objective (docs/featvis.md)


def optimize_layers(model, layers, spec, method: str, views: list[np.ndarray], progress: bool = True,
                    diverse: int = 0) -> dict:
    """layer name -> (pictures (C, h, w, 3) uint8, values (C,) float32, diverse (C, N, h, w, 3) uint8 or None):
    with diverse = N, N more pictures per channel, optimized together with Lucid's diversity term."""
    from tqdm import tqdm
    sample = torch.from_numpy(np.stack(views[:2000])).permute(0, 3, 1, 2).float() / 255 if views else None
    colour = colour_matrix(spec.mean, spec.channels, sample)
    bf16 = choose_precision(Precision.AUTO).bf16
    settings = VisSettings(method=VisMethod(method))
    total = sum(l.shape[0] for l in layers) * (1 + diverse)
    out = {}
    with tqdm(total=total, desc=f"optimize ({method})", unit="unit", disable=not progress, dynamic_ncols=True) as bar:
        for layer in layers:
            centre = (layer.shape[1] // 2, layer.shape[2] // 2)
            pics, values = [], []
            for first in range(0, layer.shape[0], CHUNK):
                chans = list(range(first, min(first + CHUNK, layer.shape[0])))
                vis = Visualizer(model, layer, spec, chans, centre, settings, colour=colour, bf16=bf16)
                vis.run(settings.steps)
                pics.append(vis.rgb())
                values.append(vis.values().numpy().astype(np.float32))
                bar.update(len(chans))
            more = None
            if diverse:
                spread = VisSettings(method=VisMethod(method), diversity=DIVERSITY)
                more = []
                for c in range(layer.shape[0]):
                    vis = Visualizer(model, layer, spec, [c] * diverse, centre, spread, colour=colour, bf16=bf16)
                    vis.run(spread.steps)
                    more.append(vis.rgb())
                    bar.update(diverse)
                more = np.stack(more)
            out[layer.name] = (np.concatenate(pics), np.concatenate(values), more)
    return out


def quality_table(atlas) -> list[str]:
    """Markdown rows: per layer, the activation each channel's optimized image reaches divided by its strongest
    activation in the data set (the atlas's top-1 value), over the channels the data set activates at all."""
    rows = ["| layer | channels | reached / data set's best: median | >= 1.0 | lowest |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, la in atlas.layers.items():
        if la.optimized_values is None or name.endswith("@relevance"):
            continue
        best = la.values[:, 0].astype(np.float64)
        ok = np.isfinite(best) & (best > 0)
        r = la.optimized_values[ok] / best[ok]
        if not len(r):
            continue
        dead = f" ({int((~ok).sum())} never active in the data: left out)" if (~ok).any() else ""
        rows.append(f"| {name} | {len(r)}{dead} | {np.median(r):.2f} | {100 * (r >= 1).mean():.0f}% | {r.min():.2f} |")
    return rows
