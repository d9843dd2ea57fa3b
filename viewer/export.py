"""Headless export: feature maps, reconstructions and a JSON for an image or a folder, no window."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from .cli import UsageError, build, parse_units
from .core.attribution import LOGITS, AttributionError, ChannelTarget, ClassTarget
from .core.graph import default_layer
from .core.methods import AttributionMethod, method_named
from .render import images
from .sources import FolderSource, ImageSource, SourceError, open_source
from .worker import Pipeline, Request


def _upscale(img: np.ndarray, min_side: int = 256) -> np.ndarray:
    k = max(1, -(-min_side // max(1, min(img.shape[:2]))))
    return np.repeat(np.repeat(img, k, 0), k, 1)


def _write(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise UsageError(f"{path}: could not be written")


def export_frame(pipe: Pipeline, frame: np.ndarray, out: Path, layer: str, units, method: AttributionMethod,
                 classes: list[str], source_name: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    base = pipe.compute(Request(frame, 0, layer, None, method))
    act = base.activation
    if units is None:  # the 8 most active channels
        order = np.argsort(-act.reshape(act.shape[0], -1).max(1))[:8]
        units = [ChannelTarget(layer, int(c)) for c in order]
    top = int(base.probs.argmax())
    units = [ClassTarget(top) if u == "class" else u for u in units]
    _write(out / "model_input.png", _upscale(base.model_image))
    scale = float(act.max())
    tiles = images.colormap(act, scale)
    rows, cols = images.grid_shape(act.shape[0])
    _write(out / "feature_maps.png", _upscale(images.mosaic(tiles, cols, tiles.shape[1], 1, (40, 40, 40)), 512))
    records = []
    for t in units:
        r = pipe.compute(Request(frame, 0, layer, t, method))
        if r.error:
            raise UsageError(r.error)
        u = r.unit
        stem = f"class{u.channel}" if u.layer == LOGITS else f"{u.layer}_c{u.channel}_y{u.y}_x{u.x}"
        _write(out / f"{stem}_{method.value}.png", _upscale(images.signed_rgb(r.recon, images.robust_scale(r.recon))))
        _write(out / f"{stem}_{method.value}_heat.png", _upscale(images.heat(r.recon)))
        records.append({"layer": u.layer, "channel": u.channel, "y": u.y, "x": u.x, "value": r.value,
                        "inactive": r.inactive, "files": [f"{stem}_{method.value}.png", f"{stem}_{method.value}_heat.png"]})
    order = np.argsort(-base.probs)[:5]
    info = {"source": source_name, "layer": layer, "method": method.value,
            "input_size": list(pipe.spec.size), "precision": "bf16" if pipe.bf16 else "fp32",
            "feature_map_scale": scale,
            "predictions": [{"class": classes[i] if i < len(classes) else str(i), "index": int(i),
                             "probability": float(base.probs[i])} for i in order],
            "units": records}
    (out / "result.json").write_text(json.dumps(info, indent=2))
    return info


def export(args: argparse.Namespace) -> int:
    if args.source is None:
        raise UsageError("--export needs --source IMAGE_OR_FOLDER")
    built = build(args)
    layer = args.layer or built.layers[default_layer(built.layers)].name
    units = parse_units(args.units, layer)
    try:
        src = open_source(args.source, realtime=False)
    except SourceError as e:
        raise UsageError(str(e)) from None
    if not isinstance(src, (ImageSource, FolderSource)):
        src.close()
        raise UsageError(f"{args.source}: --export takes an image or a folder of images")
    out = Path(args.export)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{out}: cannot create the output folder ({e.strerror})") from None
    pipe = Pipeline(built.model, built.layers, built.spec, bf16=built.precision.bf16)
    method = method_named(args.method)
    try:
        if isinstance(src, FolderSource):
            seen = set()
            while src.index not in seen:
                seen.add(src.index)
                name = src.files[src.index].stem
                export_frame(pipe, src.read(), out / name, layer, units, method, built.classes, src.name)
                print(f"wrote {out / name}")
                src.next()
        else:
            export_frame(pipe, src.read(), out, layer, units, method, built.classes, src.name)
            print(f"wrote {out}")
    except (UsageError, AttributionError) as e:
        raise UsageError(str(e)) from None
    return 0
