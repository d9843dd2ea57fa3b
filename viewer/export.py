"""Headless export: feature maps, reconstructions and a JSON for an image or a folder, no window."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from .cli import UsageError, build, parse_units
from .core.attribution import LOGITS, AttributionError, ChannelTarget, ClassTarget
from .core.graph import default_layer
from .core.methods import AttributionMethod, method_named
from .features.ablation import ablation_hooks
from .render import images
from .sources import FolderSource, ImageSource, SourceError, open_source
from .worker import Pipeline, Request


def _upscale(img: np.ndarray, min_side: int = 256) -> np.ndarray:
    k = max(1, -(-min_side // max(1, min(img.shape[:2]))))
    return np.repeat(np.repeat(img, k, 0), k, 1)


def _write(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise UsageError(f"{path}: could not be written")


def ablation_effects(pipe: Pipeline, frame: np.ndarray, layer: str, cls: int) -> dict:
    """Each channel of `layer` ablated alone (its output set to 0): the change of class `cls`'s logit and
    probability, sorted from the most harmful ablation to the most helpful."""
    import torch

    from .core.outputs import logits_of
    from .core.preprocess import model_view, to_tensor
    info = pipe.layers.get(layer)
    if info is None:
        raise UsageError(f"--ablate-layer {layer}: no such layer (layers: {', '.join(pipe.layers)})")
    x = to_tensor(model_view(frame, pipe.spec), pipe.spec, pipe.device)
    with torch.no_grad():
        base = logits_of(pipe.model.eval()(x), pipe.output)[0]
        rows = []
        for c in range(info.channels):
            handles = ablation_hooks(pipe.model, pipe.layers, ((layer, c),))
            try:
                z = logits_of(pipe.model(x), pipe.output)[0]
            finally:
                for h in handles:
                    h.remove()
            rows.append({"channel": c, "logit_change": float(z[cls] - base[cls]),
                         "probability_change": float(z.softmax(0)[cls] - base.softmax(0)[cls])})
    rows.sort(key=lambda r: (r["logit_change"], r["channel"]))
    return {"layer": layer, "class_index": cls, "logit": float(base[cls]),
            "probability": float(base.softmax(0)[cls]), "channels": rows}


def ablation_chart(effects: dict, class_name: str, n: int = 20) -> np.ndarray:
    """A bar chart (RGB) of the n channels whose ablation changes the class logit most."""
    rows = sorted(effects["channels"], key=lambda r: -abs(r["logit_change"]))[:n]
    W, bar, left = 720, 22, 110
    H = 60 + bar * len(rows) + 20
    img = np.full((H, W, 3), 255, np.uint8)
    span = max(1e-9, max(abs(r["logit_change"]) for r in rows))
    mid = left + (W - left - 30) // 2
    half = (W - left - 30) // 2
    cv2.putText(img, f"{effects['layer']}: each channel ablated alone, change of the '{class_name}' logit",
                (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    cv2.putText(img, f"(logit {effects['logit']:.2f}; the {len(rows)} largest changes)", (10, 44),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    for k, r in enumerate(rows):
        y = 60 + k * bar
        d = r["logit_change"]
        x1 = mid + int(half * d / span)
        colour = (70, 70, 220) if d < 0 else (90, 170, 60)   # BGR: red for harm, green for help
        cv2.rectangle(img, (min(mid, x1), y + 3), (max(mid, x1), y + bar - 3), colour, -1)
        cv2.putText(img, f"channel {r['channel']}", (8, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1,
                    cv2.LINE_AA)
        tx, ink = (x1 + 6, (30, 30, 30)) if d >= 0 else ((x1 - 52, (30, 30, 30)) if x1 - 52 > left
                                                         else (x1 + 4, (255, 255, 255)))
        cv2.putText(img, f"{d:+.2f}", (tx, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, ink, 1, cv2.LINE_AA)
    cv2.line(img, (mid, 56), (mid, H - 16), (120, 120, 120), 1)
    return img[:, :, ::-1]


def export_frame(pipe: Pipeline, frame: np.ndarray, out: Path, layer: str, units, method: AttributionMethod,
                 classes: list[str], source_name: str, ablate_layer: str | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    base = pipe.compute(Request(frame, 0, layer, None, method))
    act = base.activation
    if units is None:  # the 8 most active channels
        order = np.argsort(-act.reshape(act.shape[0], -1).max(1))[:8]
        units = [ChannelTarget(layer, int(c)) for c in order]
    top = int(base.probs.argmax())
    units = [ClassTarget(top) if u == "class" else u for u in units]
    if base.nonfinite:
        print(f"warning: {source_name}: {base.nonfinite} (the images show them as 0; result.json says where)",
              file=sys.stderr)
    _write(out / "model_input.png", _upscale(base.model_image))
    scale = float(act.max())
    tiles = images.colormap(act, scale)
    rows, cols = images.grid_shape(act.shape[0])
    _write(out / "feature_maps.png", _upscale(images.mosaic(tiles, cols, tiles.shape[1], 1, (40, 40, 40)), 512))
    np.save(out / "feature_maps.npy", act.astype(np.float32))      # the layer's activations, (C, H, W)
    records = []
    for t in units:
        r = pipe.compute(Request(frame, 0, layer, t, method))
        if r.error:
            raise UsageError(r.error)
        u = r.unit
        stem = f"class{u.channel}" if u.layer == LOGITS else f"{u.layer}_c{u.channel}_y{u.y}_x{u.x}"
        if method.relevance:    # LRP: summed over colours, red for, blue against (as the window draws it)
            shown = images.relevance_image(r.recon)[0]
        else:
            shown = images.signed_rgb(r.recon, images.robust_scale(r.recon))
        _write(out / f"{stem}_{method.value}.png", _upscale(shown))
        _write(out / f"{stem}_{method.value}_heat.png", _upscale(images.heat(r.recon)))
        np.save(out / f"{stem}_{method.value}.npy", r.recon.astype(np.float32))    # the raw values, (C, H, W)
        records.append({"layer": u.layer, "channel": u.channel, "y": u.y, "x": u.x, "value": r.value,
                        "inactive": r.inactive, "files": [f"{stem}_{method.value}.png", f"{stem}_{method.value}_heat.png",
                                                          f"{stem}_{method.value}.npy"]})
    order = np.argsort(-base.probs)[:5]
    info = {"source": source_name, "layer": layer, "method": method.value,
            "input_size": list(pipe.spec.size), "precision": "bf16" if pipe.bf16 else "fp32",
            "device": str(pipe.device),
            "feature_map_scale": scale,
            "nonfinite": base.nonfinite or None,   # where the pass held NaN or inf (core/finite.py), else null
            "predictions": [{"class": classes[i] if i < len(classes) else str(i), "index": int(i),
                             "probability": float(base.probs[i])} for i in order],
            "units": records}
    if ablate_layer is not None:
        effects = ablation_effects(pipe, frame, ablate_layer, top)
        name = classes[top] if top < len(classes) else str(top)
        effects["class"] = name
        effects["chart"] = f"ablation_{ablate_layer}.png"
        _write(out / effects["chart"], ablation_chart(effects, name))
        info["ablation"] = effects
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
    pipe = Pipeline(built.model, built.layers, built.spec, bf16=built.precision.bf16, output=built.output)
    method = method_named(args.method)
    try:
        if isinstance(src, FolderSource):
            seen = set()
            while src.index not in seen:
                seen.add(src.index)
                name = src.files[src.index].stem
                export_frame(pipe, src.read(), out / name, layer, units, method, built.classes, src.name,
                             args.ablate_layer)
                print(f"wrote {out / name}")
                src.next()
        else:
            export_frame(pipe, src.read(), out, layer, units, method, built.classes, src.name, args.ablate_layer)
            print(f"wrote {out}")
    except (UsageError, AttributionError) as e:
        raise UsageError(str(e)) from None
    return 0
