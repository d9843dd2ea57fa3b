"""Building an atlas file from a model and a data set (python -m viewer.atlas; see __main__.py)."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..core import methods as registry
from ..core.attribution import Analyzer
from ..core.checkpoint import load_model, sha256_of
from ..core.graph import build_graph
from ..core.lrp_method import pixel_bounds
from ..core.lrp_rules import EPSILON_PLUS_FLAT
from ..core.preprocess import InputSpec, model_view, spec_for, to_batch
from .data import ImageSet
from .relevance import SUFFIX, scan_relevance
from .scan import TopK, atlas_layers, reconstruct, scan
from .store import FORMAT, VERSION, Atlas


@dataclass
class BuildStats:
    images: int = 0
    skipped: int = 0
    entries: int = 0
    scan_s: float = 0.0
    recon_s: float = 0.0
    scan_gflop: float = 0.0
    recon_gflop: float = 0.0
    relevance_s: float = 0.0   # --rank relevance: the LRP scan (one pass with its backward per batch)
    optimize_s: float = 0.0    # --optimize: every channel's optimized image


def chosen_methods(names: list[str] | None) -> list[registry.AttributionMethod]:
    """The registered methods of those names, in the order given; where names is None, every registered one
    stored by default (`in_atlas`: not LRP's, a pass of their own per image) (ValueError for an unknown name)."""
    if names is None:
        return [m for m in registry.METHODS if m.in_atlas]
    return [registry.method_named(n) for n in dict.fromkeys(names)]


def settings_of(layers: list[str], top: int, spec: InputSpec, limit: int | None, split: str,
                methods: list[str], rank: str = "activation", optimize: str | None = None, diverse: int = 0) -> dict:
    settings = {"layers": layers, "top": top, "input_size": list(spec.size), "limit": limit, "split": split,
                "methods": methods}
    if rank != "activation":     # said only where it is not the default: older atlas files stay up to date
        settings["rank"] = rank
    if optimize:
        settings["optimize"] = optimize
    if optimize and diverse:
        settings["optimize_diverse"] = diverse
    return settings


def atlas_meta(model_path: Path, data: ImageSet, settings: dict) -> dict:
    stored = {"activation": settings["layers"], "relevance": [n + SUFFIX for n in settings["layers"]],
              "both": settings["layers"] + [n + SUFFIX for n in settings["layers"]]}[settings.get("rank", "activation")]
    return {"format": FORMAT, "version": VERSION,
            "model": {"path": str(model_path.resolve()), "sha256": sha256_of(model_path)},
            "data": data.identity(), "settings": settings, "layers": stored}


def shard_range(total: int, k: int, n: int) -> tuple[int, int]:
    """[start, stop) of the k-th (1-based) of n equal slices of `total` images."""
    return total * (k - 1) // n, total * k // n


def same_atlas(a: dict, b: dict) -> str:
    """'' when two metas describe the same atlas, else what differs (model, data set, settings)."""
    for key, what in (("model", "the model"), ("data", "the data set"), ("settings", "the settings"),
                      ("shard", "the shard")):
        if (a.get(key, {}).get("sha256") if key == "model" else a.get(key)) != \
                (b.get(key, {}).get("sha256") if key == "model" else b.get(key)):
            return what
    return ""


def plan(model_path: Path, data: ImageSet, layer_names: list[str] | None, top: int, limit: int | None = None,
         split: str = "test", methods: list[str] | None = None, rank: str = "activation",
         optimize: str | None = None, diverse: int = 0):
    """(model, its input spec, its layer graph, the atlas layers, the meta the atlas will have). methods: the
    names of the methods whose reconstructions are stored (default: every registered one)."""
    names = [m.value for m in chosen_methods(methods)]
    loaded = load_model(str(model_path))
    spec = spec_for(loaded.meta, loaded.model)
    model = loaded.model.eval()
    graph = build_graph(model, (spec.channels, *spec.size))
    layers = atlas_layers(graph, layer_names)
    meta = atlas_meta(model_path, data, settings_of([l.name for l in layers], top, spec, limit, split, names, rank,
                                                           optimize, diverse))
    return model, spec, graph, layers, meta


def build_atlas(model_path: Path, data: ImageSet, layer_names: list[str] | None, top: int, batch: int = 250,
                limit: int | None = None, split: str = "test", progress: bool = True,
                planned: tuple | None = None, device: str | None = "cpu",
                methods: list[str] | None = None, rank: str = "activation",
                optimize: str | None = None, shard: tuple[int, int] | None = None) -> tuple[Atlas, BuildStats]:
    """planned: plan()'s result for the same arguments, where the caller has it (the model is then not loaded
    and hashed again). device: where the scan and the reconstructions run (--device; core/device.py).
    methods: as for plan(). optimize: also each channel's optimized image (atlas/optimize.py), by that method.
    shard: (k, n): only the k-th of n equal slices of the images, for `merge` (atlas/merge.py) to join; the
    optimized images are made by shard 1 alone."""
    from ..core.device import choose_device
    from tqdm import tqdm

    model, spec, graph, layers, meta = planned or plan(model_path, data, layer_names, top, limit, split, methods,
                                                       rank, optimize)
    chosen = chosen_methods(meta["settings"]["methods"])
    dev = choose_device(device)
    # channels last: oneDNN's convolutions skip a reorder per call (All-CNN-C's batch of 250: 1.33x)
    model = model.to(dev, memory_format=torch.channels_last)
    analyzer = Analyzer(model, graph, pixel_bounds=pixel_bounds(spec.mean, spec.std, spec.channels))
    stats = BuildStats()
    total = data.count if limit is None else min(limit, data.count)
    start, stop = (0, total) if shard is None else shard_range(total, *shard)
    if shard is not None:
        if stop <= start:
            raise ValueError(f"--shard {shard[0]}/{shard[1]} holds no image: the data set has only {total} images")
        meta = {**meta, "shard": {"k": shard[0], "n": shard[1], "start": start, "stop": stop}}
        total = stop - start

    def batches():
        xs, ids = [], []
        for i, frame in data.frames(limit, start, stop):
            xs.append(model_view(frame, spec))
            ids.append(i)
            if len(xs) == batch:
                yield to_batch(np.stack(xs), spec, dev).contiguous(memory_format=torch.channels_last), ids
                xs, ids = [], []
        if xs:
            yield to_batch(np.stack(xs), spec, dev).contiguous(memory_format=torch.channels_last), ids

    bar = tqdm(total=total, desc="scan", unit="img", disable=not progress, dynamic_ncols=True)

    def scanned(n):
        stats.images += n
        bar.update(n)
    t0 = time.perf_counter()
    rank = meta["settings"].get("rank", "activation")
    rankings = {}
    if rank == "activation":
        rankings[""] = scan(analyzer, layers, batches(), top, scanned)
        stats.scan_s = time.perf_counter() - t0
    else:   # the LRP pass's forward gives the activations too: "both" reads the data once
        acts = {l.name: TopK(l.channels, top) for l in layers} if rank == "both" else None
        rankings[SUFFIX] = scan_relevance(analyzer, layers, batches(), top, EPSILON_PLUS_FLAT, scanned, acts)
        if acts is not None:
            rankings = {"": acts, SUFFIX: rankings[SUFFIX]}
        stats.relevance_s = time.perf_counter() - t0
    bar.close()
    stats.skipped = data.skipped
    if stats.images == 0:
        raise ValueError(f"{data.path}: no image could be read")
    needed = sorted({int(i) for tops in rankings.values() for t in tops.values() for i in t.images.ravel() if i >= 0})
    want, views = set(needed), {}
    for i, frame in data.frames(limit, start, stop):   # the images that hold entries, once more
        if i in want:
            views[i] = model_view(frame, spec)
    entries = sum(int((t.images >= 0).sum()) for tops in rankings.values() for t in tops.values())
    bar = tqdm(total=entries, desc="reconstruct", unit="unit", disable=not progress, dynamic_ncols=True)
    t0 = time.perf_counter()
    per_layer = [replace(la, name=la.name + suffix)
                 for suffix, tops in rankings.items()
                 for la in reconstruct(analyzer, layers, tops, views, lambda v: to_batch(v[None], spec, dev),
                                       bar.update, chosen)]
    bar.close()
    stats.recon_s, stats.entries = time.perf_counter() - t0, entries
    if meta["settings"].get("optimize") and (shard is None or shard[0] == 1):
        from .optimize import optimize_layers
        t0 = time.perf_counter()
        pictures = optimize_layers(model, layers, spec, meta["settings"]["optimize"], list(views.values()), progress,
                                   meta["settings"].get("optimize_diverse", 0))
        per_layer = [replace(la, optimized=pictures[la.name.removesuffix(SUFFIX)][0],
                             optimized_values=pictures[la.name.removesuffix(SUFFIX)][1],
                             optimized_diverse=pictures[la.name.removesuffix(SUFFIX)][2]) for la in per_layer]
        stats.optimize_s = time.perf_counter() - t0
    ids = np.array(needed, np.int64)
    shape = (0, *spec.size, 3)
    stacked = np.stack([views[i] for i in needed]) if needed else np.zeros(shape, np.uint8)
    return Atlas(meta, {la.name: la for la in per_layer}, stacked, ids), stats
