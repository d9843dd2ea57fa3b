"""The selected unit's atlas entries as the window shows them: from the atlas file where it covers the
layer, else from the live atlas; each with its patch (the receptive-field box of its image) and the image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..render.images import cut_box


@dataclass(frozen=True)
class Entry:
    value: float      # the unit's activation in that image
    key: int          # the data-set index (file) or frame number (live)
    y: int            # the unit's position in its layer's map
    x: int
    label: str        # "#123" or "frame 45"


def unit_entries(atlas, live, layer, channel: int) -> tuple[str, list[Entry]]:
    """("file" or "live", the entries of `layer` (a LayerInfo) channel, best first)."""
    la = atlas.layers.get(layer.name) if atlas is not None else None
    if la is not None:
        c = min(channel, la.values.shape[0] - 1)
        return "file", [Entry(float(la.values[c, j]), int(la.images[c, j]), int(la.ys[c, j]), int(la.xs[c, j]),
                              f"#{int(la.images[c, j])}") for j in range(la.values.shape[1]) if la.images[c, j] >= 0]
    if live is None:
        return "live", []
    return "live", [Entry(v, f, y, x, f"frame {f}") for v, f, y, x in live.entries(layer.name, channel)
                    if f in live.views]


def entry_view(atlas, live, kind: str, key: int) -> np.ndarray | None:
    """The model input image the entry comes from."""
    return atlas.view_of(key) if kind == "file" else live.views.get(key) if live is not None else None


def entry_patch(atlas, live, kind: str, layer, channel: int, j: int, e: Entry) -> tuple[np.ndarray, np.ndarray]:
    """(RGB patch, valid mask): stored in the file, cut from the live frame."""
    if kind == "file":
        la = atlas.layers[layer.name]
        c = min(channel, la.values.shape[0] - 1)
        return la.patches[c, j], la.valid[c, j]
    view = live.views[e.key]
    patch, valid = cut_box(view.transpose(2, 0, 1), layer.rf.box(e.y, e.x))
    return patch.transpose(1, 2, 0), valid
