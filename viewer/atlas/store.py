"""The atlas file: one .npz readable with allow_pickle=False, written atomically.

Keys: "meta" (a JSON string: format, version, the model file's sha256 and path, the data set's identity, the
settings, the layers), "views" (N, H, W, 3) uint8 (the model input images that hold entries) with
"view_ids" (N,) their data-set indices, and per layer L: "L/values", "L/images", "L/ys", "L/xs" (C, K),
"L/patches" (C, K, P, P, 3), "L/valid" (C, K, P, P) and "L/recon_<method>" (C, K, 3, P, P) float32; with
--optimize also "L/optimized" (C, h, w, 3) uint8 and "L/optimized_values" (C,), with --optimize-diverse N
"L/optimized_diverse" (C, N, h, w, 3). The relevance ranking of layer L
(--rank relevance or both) is stored as layer "L@relevance".
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.checkpoint import sha256_of
from .relevance import SUFFIX
from .scan import LayerAtlas

FORMAT, VERSION = "cnn-viewer-atlas", 1


class AtlasError(Exception):
    """The atlas file cannot be used; one sentence for the user."""


@dataclass
class Atlas:
    meta: dict
    layers: dict[str, LayerAtlas]
    views: np.ndarray          # (N, H, W, 3) uint8
    view_ids: np.ndarray       # (N,) data-set index of each view

    def rankings(self) -> list[str]:
        """"activation" and/or "relevance": how the file's top images were chosen (python -m viewer.atlas --rank)."""
        rel = any(n.endswith(SUFFIX) for n in self.layers)
        act = any(not n.endswith(SUFFIX) for n in self.layers)
        return ["activation"] * act + ["relevance"] * rel

    def ranked(self, ranking: str) -> "Atlas":
        """The same atlas with one ranking's layers under their own names (the window reads layers by name)."""
        keep = {n: la for n, la in self.layers.items() if n.endswith(SUFFIX) == (ranking == "relevance")}
        named = {n.removesuffix(SUFFIX): replace(la, name=n.removesuffix(SUFFIX)) for n, la in keep.items()}
        return Atlas(self.meta, named, self.views, self.view_ids)

    def view_of(self, image_id: int) -> np.ndarray | None:
        hit = np.nonzero(self.view_ids == image_id)[0]
        return self.views[hit[0]] if len(hit) else None


def save_atlas(path: Path, atlas: Atlas) -> None:
    """Write to a temporary file beside `path`, then rename: an interrupted write leaves no partial file."""
    arrays = {"meta": np.array(json.dumps(atlas.meta)), "views": atlas.views, "view_ids": atlas.view_ids}
    for name, la in atlas.layers.items():
        arrays.update({f"{name}/values": la.values, f"{name}/images": la.images, f"{name}/ys": la.ys,
                       f"{name}/xs": la.xs, f"{name}/patches": la.patches, f"{name}/valid": la.valid})
        arrays.update({f"{name}/recon_{m}": r for m, r in la.recons.items()})
        if la.optimized is not None:
            arrays.update({f"{name}/optimized": la.optimized, f"{name}/optimized_values": la.optimized_values})
        if la.optimized_diverse is not None:
            arrays[f"{name}/optimized_diverse"] = la.optimized_diverse
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_meta(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
    except Exception as e:
        raise AtlasError(f"{path}: not an atlas file of this tool ({type(e).__name__})") from None
    if meta.get("format") != FORMAT:
        raise AtlasError(f"{path}: not an atlas file of this tool")
    return meta


def load_atlas(path: Path) -> Atlas:
    meta = read_meta(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            layers = {}
            stored = meta["settings"]["methods"]       # the methods whose reconstructions the file holds
            for name in meta["layers"]:
                opt = f"{name}/optimized" in z.files     # python -m viewer.atlas --optimize
                layers[name] = LayerAtlas(name, z[f"{name}/values"], z[f"{name}/images"], z[f"{name}/ys"],
                                          z[f"{name}/xs"], z[f"{name}/patches"], z[f"{name}/valid"],
                                          {m: z[f"{name}/recon_{m}"] for m in stored},
                                          z[f"{name}/optimized"] if opt else None,
                                          z[f"{name}/optimized_values"] if opt else None,
                                          z[f"{name}/optimized_diverse"] if f"{name}/optimized_diverse" in z.files
                                          else None)
            return Atlas(meta, layers, z["views"], z["view_ids"])
    except AtlasError:
        raise
    except Exception as e:
        raise AtlasError(f"{path}: the atlas file is damaged ({type(e).__name__}: {e})") from None


def check_model(meta: dict, model_path: Path, path: Path) -> None:
    """Refuse an atlas made from another model file (by sha256)."""
    if not model_path.is_file():
        raise AtlasError(f"{path}: an atlas belongs to a model file; {model_path} is not one")
    if sha256_of(model_path) != meta["model"]["sha256"]:
        raise AtlasError(f"{path} was made from another model ({meta['model']['path']}, sha256 "
                         f"{meta['model']['sha256'][:12]}...), not from {model_path}")
