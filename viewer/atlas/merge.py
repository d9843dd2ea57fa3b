"""Joining the shards of an atlas (python -m viewer.atlas merge PARTS... --out FILE).

`python -m viewer.atlas --shard K/N` scans the K-th of N equal slices of the data set into a partial atlas (its
meta names the shard). The merge keeps, per channel, the top K of all parts' entries by the scan's own order
(highest value first, then the lowest image index), so it equals the atlas of the whole data set: each part's top
K holds every entry of the global top K that lies in its slice. The patches and reconstructions follow their
entries; the model input images kept are those the merged entries need; the optimized images come from shard 1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .scan import LayerAtlas
from .store import Atlas, AtlasError, load_atlas


def _take(a: np.ndarray, order: np.ndarray) -> np.ndarray:
    idx = order.reshape(order.shape + (1,) * (a.ndim - 2))
    return np.take_along_axis(a, idx, 1)


def merge_layer(parts: list[LayerAtlas], k: int) -> LayerAtlas:
    cat = lambda f: np.concatenate([f(p) for p in parts], 1)   # noqa: E731
    values, images = cat(lambda p: p.values), cat(lambda p: p.images)
    order = np.lexsort((images, -values), axis=-1)[:, :k]
    recons = {m: _take(cat(lambda p, m=m: p.recons[m]), order) for m in parts[0].recons}
    first = next((p for p in parts if p.optimized is not None), None)
    return LayerAtlas(parts[0].name, _take(values, order), _take(images, order), _take(cat(lambda p: p.ys), order),
                      _take(cat(lambda p: p.xs), order), _take(cat(lambda p: p.patches), order),
                      _take(cat(lambda p: p.valid), order), recons,
                      first.optimized if first else None, first.optimized_values if first else None,
                      first.optimized_diverse if first else None)


def merge_atlases(paths: list[Path]) -> Atlas:
    """The atlas of the whole data set from all N shards of one atlas; AtlasError (one sentence) otherwise."""
    parts = [load_atlas(p) for p in paths]
    shards = [a.meta.get("shard") for a in parts]
    for p, sh in zip(paths, shards):
        if sh is None:
            raise AtlasError(f"{p} is a whole atlas, not a shard (made with --shard K/N)")
    n = shards[0]["n"]
    base = {k: v for k, v in parts[0].meta.items() if k != "shard"}
    for p, a in zip(paths, parts):
        rest = {k: v for k, v in a.meta.items() if k != "shard"}
        if rest["model"]["sha256"] != base["model"]["sha256"] or rest["data"] != base["data"] or \
                rest["settings"] != base["settings"] or a.meta["shard"]["n"] != n:
            raise AtlasError(f"{p} is a shard of another atlas (model, data set, settings or N differ from {paths[0]})")
    ks = sorted(sh["k"] for sh in shards)
    if ks != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(ks))
        twice = sorted({k for k in ks if ks.count(k) > 1})
        raise AtlasError(f"the shards do not cover the data set once: " +
                         (f"missing {', '.join(f'{k}/{n}' for k in missing)}" if missing else "") +
                         ("; " if missing and twice else "") + (f"given twice: {', '.join(map(str, twice))}" if twice else ""))
    top = base["settings"]["top"]
    layers = {name: merge_layer([a.layers[name] for a in parts], top) for name in parts[0].layers}
    needed = sorted({int(i) for la in layers.values() for i in la.images.ravel() if i >= 0})
    views = {}
    for a in parts:
        for i, v in zip(a.view_ids.tolist(), a.views):
            views.setdefault(int(i), v)
    shape = parts[0].views.shape[1:]
    stacked = np.stack([views[i] for i in needed]) if needed else np.zeros((0, *shape), np.uint8)
    return Atlas(base, layers, stacked, np.array(needed, np.int64))
