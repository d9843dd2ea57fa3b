"""What a unit wants (python -m viewer.bench featvis): the time to optimize one conv6 unit of All-CNN-C by each method
(256 steps, its 22x22 receptive-field box, not the 32x32 image), and, where the CIFAR-10 archive is beside the
checkout, the activation reached against the unit's strongest in the first N test images (--atlas-limit, default
1,000) for every 24th channel of conv3, conv6 and conv9 (a sample; the whole table is issue 35's next step)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..core.featvis import Visualizer, VisMethod, VisSettings, layer_output
from ..core.graph import build_graph
from .common import Row, load_allcnn


def bench_featvis(checkpoint: Path | None, data: Path, limit: int | None, quick: bool = False) -> list[Row]:
    model, _, spec, _ = load_allcnn(checkpoint)
    layers = {l.name: l for l in build_graph(model)}
    rows: list[Row] = []
    frame = torch.rand(3, *spec.size, generator=torch.Generator().manual_seed(0))
    conv6 = layers["conv6"]
    centre = (conv6.shape[1] // 2, conv6.shape[2] // 2)
    for method in VisMethod:
        for bf16 in (False, True):
            vis = Visualizer(model, conv6, spec, [12], centre, VisSettings(method=method), start=frame, bf16=bf16)
            t = time.perf_counter()
            vis.run(vis.settings.steps)
            s = time.perf_counter() - t
            h, w = vis.hw
            rows.append((f"one conv6 unit, {method.label}, 256 steps, its {h}x{w} box, {'bf16' if bf16 else 'fp32'}",
                         s * 1000, f"{s:.2f} s (target <= 1 s); reaches {float(vis.values()[0]):.3g} from "
                         f"{float(vis.first[0]):.3g}"))
    rows += _lucent_rows(model, conv6, spec)
    if quick:
        return rows
    for bf16 in (False, True):   # W + O and the atlas: every unit of the layer, batched in chunks
        t = time.perf_counter()
        for first in range(0, conv6.shape[0], 32):
            vis = Visualizer(model, conv6, spec, list(range(first, min(first + 32, conv6.shape[0]))), centre,
                             VisSettings(), bf16=bf16)
            vis.run(256)
        s = time.perf_counter() - t
        rows.append((f"all {conv6.shape[0]} conv6 units, Fourier, 256 steps, batches of 32, {'bf16' if bf16 else 'fp32'}",
                     s * 1000, f"{s:.0f} s (target <= 15 s)"))
    if not data.exists():
        return rows
    from ..cifar10 import load_cifar10
    ds = load_cifar10(data, limit_test=limit or 1000, train=False)
    x = torch.from_numpy(ds.test.images).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(spec.mean).view(1, -1, 1, 1), torch.tensor(spec.std).view(1, -1, 1, 1)
    for name in ("conv3", "conv6", "conv9"):
        layer = layers[name]
        with torch.no_grad():
            top = torch.cat([layer_output(model, layer, (b - mean) / std).flatten(2).amax(2)
                             for b in x.split(250)]).amax(0)
        pos = (layer.shape[1] // 2, layer.shape[2] // 2)
        for method in (VisMethod.FOURIER, VisMethod.DVT):
            ratios, t = [], time.perf_counter()
            chans = list(range(0, layer.shape[0], 24 if layer.shape[0] > 24 else 1))
            for c in chans:
                vis = Visualizer(model, layer, spec, [c], pos, VisSettings(method=method))
                vis.run(vis.settings.steps)
                ratios.append(float(vis.values()[0]) / max(float(top[c]), 1e-12))
            r = np.array(ratios)
            rows.append((f"{name}: {len(chans)} channels at the centre, {method.label}",
                         (time.perf_counter() - t) * 1000 / len(chans),
                         f"per unit; reached / data top-1: median {np.median(r):.2f}, >= 1.0 for "
                         f"{100 * (r >= 1).mean():.0f}% (target 95%)"))
    return rows


def _lucent_rows(model, layer, spec, channels=range(0, 192, 24)) -> list[Row]:
    """The same conv6 units by torch-lucent 0.1.8 (a bench-only dependency): its Fourier image of the whole input
    with its standard transforms and the model's normalisation, 256 steps, beside ours (the box, fp32)."""
    try:
        from lucent.optvis import objectives, param, render, transform
    except Exception:   # noqa: BLE001  not installed (it needs torchvision): the rows say so
        return [("torch-lucent: the same units", float("nan"), "not installed here (pip install torch-lucent)")]
    mean, std = torch.tensor(spec.mean).view(1, -1, 1, 1), torch.tensor(spec.std).view(1, -1, 1, 1)
    tf = transform.standard_transforms + [lambda x: (x - mean) / std]
    h, w = spec.size
    centre = (layer.shape[1] // 2, layer.shape[2] // 2)
    theirs, ours, t_theirs, t_ours = [], [], 0.0, 0.0
    for c in channels:
        t = time.perf_counter()
        img = render.render_vis(model, objectives.neuron(layer.name, c), param_f=lambda: param.image(h), transforms=tf,
                                thresholds=(256,), show_image=False, progress=False, preprocess=False,
                                fixed_image_size=h)[-1]
        t_theirs += time.perf_counter() - t
        x = (torch.from_numpy(img).permute(0, 3, 1, 2).float() - mean) / std
        with torch.no_grad():
            theirs.append(float(layer_output(model.eval(), layer, x)[0, c, centre[0], centre[1]]))
        vis = Visualizer(model, layer, spec, [c], centre, VisSettings())
        t = time.perf_counter()
        vis.run(256)
        t_ours += time.perf_counter() - t
        ours.append(float(vis.values()[0]))
    n = len(ours)
    return [(f"{layer.name}, {n} channels: ours (Fourier, the box)", t_ours * 1000 / n,
             f"per unit; reaches {np.median(ours):.3g} (median), above 0 for {sum(v > 0 for v in ours)} of {n}"),
            (f"{layer.name}, the same channels: torch-lucent 0.1.8 (whole image, its transforms)", t_theirs * 1000 / n,
             f"per unit; reaches {np.median(theirs):.3g} (median), above 0 for {sum(v > 0 for v in theirs)} of {n}: "
             f"ours {t_theirs / t_ours:.1f}x faster")]
