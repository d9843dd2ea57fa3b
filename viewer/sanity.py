"""python -m viewer.sanity: the cascading model-parameter randomization test of Adebayo et al. 2018.

For N images of a data set and each method of --methods (default: every one registered in viewer/core/methods.py,
the reconstructions of METHODS and the class maps of CLASS_MAPS, e.g. Grad-CAM and guided Grad-CAM), the map
of the model's predicted class is compared with the same map in copies of the model whose layers are
re-initialised from the top down to each layer in turn (viewer/core/sanity.py): the Spearman rank
correlation of the absolute maps, mean and spread over the images, layer by layer from the top down. A
method whose maps stay highly correlated while the network's weights are destroyed shows the image more
than the model. A table on stdout and a plot like the paper's Figure 2 (PNG).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .paths import SHIPPED_MODEL, default_data, prog, version

PALETTE = [(90, 220, 120), (255, 170, 40), (60, 160, 255), (230, 90, 200), (170, 150, 0), (120, 120, 120),
           (200, 60, 60), (40, 190, 190)]   # RGB, one per map in the order of the registries (then again)


def parse_args(argv):
    from .core import methods as registry   # read now: a method registered later is offered too
    names = [m.value for m in (*registry.METHODS, *registry.CLASS_MAPS)]
    p = argparse.ArgumentParser(prog=prog("viewer.sanity"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("--model", default=str(SHIPPED_MODEL), help="a checkpoint (default: the shipped All-CNN-C)")
    p.add_argument("--data", default=str(default_data()), help="the CIFAR-10 npz or folder (test split), a folder "
                   "of images (subfolders searched too) or a video (default: CIFAR-10 from $CNN_VIEWER_DATA, "
                   "else the download of `cnn-viewer-data cifar10`, else a checkout's ../shared copy; "
                   "found here: %(default)s)")
    p.add_argument("--n", type=int, default=100, help="images, spread evenly over the data set (default 100)")
    p.add_argument("--methods", nargs="+", choices=names, metavar="METHOD",
                   help=f"which to compare: {', '.join(names)} (default: all of them)")
    p.add_argument("--cam-layer", help="the layer of the class maps, Grad-CAM's (default: the last layer with a "
                   "spatial map)")
    p.add_argument("--seed", type=int, default=0, help="the seed of the re-initialisation (default 0)")
    p.add_argument("--plot", help="the PNG plot (default: sanity-MODEL.png; an existing file is overwritten only "
                   "when named here)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.n < 1:
        p.error("--n must be 1 or more")
    return a


def chosen(names: list[str] | None) -> tuple[list, list]:
    """(the registered methods, the registered class maps) of those names (all of them where names is None),
    each in its registry's order."""
    from .core import methods as registry
    pick = lambda ms: [m for m in ms if names is None or m.value in names]  # noqa: E731
    return pick(registry.METHODS), pick(registry.CLASS_MAPS)


def maps_for(an, fp, cls: int, cam_layer: str, which: tuple[list, list]) -> dict[str, np.ndarray]:
    """The maps of the class logit `cls` by name: each method's (C, H, W) reconstruction under its name, then
    each class map's images at cam_layer under theirs ((H, W) Grad-CAM, (C, H, W) guided Grad-CAM)."""
    from .core.attribution import ClassTarget
    methods, class_maps = which
    out = {m.value: m.reconstruct(an, fp, [ClassTarget(cls)]).images[0].numpy() for m in methods}
    for m in class_maps:
        out.update(m.maps(an, fp, cls, cam_layer))
    return out


def run(model_path: Path, data, n: int, cam_layer: str | None, seed: int, progress: bool = True,
        methods: list[str] | None = None):
    """(cuts from the top down, {map name: (n, cuts) rank correlations}, images used, {map name: (n,) rank
    correlations of the top class's map with the second class's on the intact model}: class sensitivity, 1 where
    the map ignores the class, Sixt et al. 2020). methods: the names of the registered methods and class maps to
    compare (default: all)."""
    from tqdm import tqdm

    from .core.attribution import Analyzer
    from .core.checkpoint import load_model
    from .core.graph import build_graph
    from .core.lrp_method import pixel_bounds
    from .core.preprocess import model_view, spec_for, to_batch
    from .core.sanity import cascading_randomized, spearman
    loaded = load_model(str(model_path))
    model, spec = loaded.model.eval(), spec_for(loaded.meta, loaded.model)
    layers = build_graph(model, (spec.channels, *spec.size))
    modules = dict(model.named_modules())
    cuts = [l.name for l in reversed(layers)
            if any(True for _ in modules[l.module_name].parameters())]          # layers with weights, top first
    spatial = [l.name for l in layers if len(l.shape) == 3 and l.shape[1] * l.shape[2] > 1]
    cam_layer = cam_layer or spatial[-1]
    if cam_layer not in spatial:
        raise ValueError(f"--cam-layer {cam_layer}: not a layer with a spatial map ({', '.join(spatial)})")
    bounds = pixel_bounds(spec.mean, spec.std, spec.channels)    # LRP's zB rule
    real = Analyzer(model, layers, pixel_bounds=bounds)
    twins = {c: Analyzer(cascading_randomized(model, layers, c, seed), layers, pixel_bounds=bounds) for c in cuts}
    which = chosen(methods)
    total = data.count
    picks = set(np.linspace(0, total - 1, min(n, total)).round().astype(int).tolist())
    corr: dict[str, list] = {}     # map name -> per image, per cut; the names come with the first maps
    sens: dict[str, list] = {}     # map name -> per image: top class against the second
    bar = tqdm(total=len(picks), desc="sanity", unit="img", disable=not progress, dynamic_ncols=True)
    used = 0
    for i, frame in data.frames():
        if i not in picks:
            continue
        x = to_batch(model_view(frame, spec)[None], spec)
        fp = real.forward(x)
        top2 = fp.logits.detach()[0].argsort(descending=True)[:2].tolist()
        cls = int(top2[0])
        ref = maps_for(real, fp, cls, cam_layer, which)
        if len(top2) > 1:
            other = maps_for(real, fp, int(top2[1]), cam_layer, which)
            for m in ref:
                sens.setdefault(m, []).append(spearman(np.abs(ref[m]), np.abs(other[m])))
        rows = {m: [] for m in ref}
        for c in cuts:
            an = twins[c]
            got = maps_for(an, an.forward(x), cls, cam_layer, which)
            for m in ref:
                rows[m].append(spearman(np.abs(ref[m]), np.abs(got[m])))
        for m in ref:
            corr.setdefault(m, []).append(rows[m])
        used += 1
        bar.update(1)
    bar.close()
    return cuts, {m: np.array(v) for m, v in corr.items()}, used, {m: np.array(v) for m, v in sens.items()}


def plot(cuts: list[str], corr: dict[str, np.ndarray], title: str) -> np.ndarray:
    """Adebayo's Figure 2 as an RGB image: the cascade on x (top layer first), rank correlation on y."""
    import cv2
    W, H, left, right, top, bottom = 900, 540, 70, 190, 70, 80
    img = np.full((H, W, 3), 255, np.uint8)
    pw, ph = W - left - right, H - top - bottom
    y_of = lambda v: int(top + (1.0 - (min(max(v, -0.2), 1.0) + 0.2) / 1.2) * ph)  # noqa: E731  (-0.2..1)
    x_of = lambda k: int(left + (k + 0.5) * pw / len(cuts))  # noqa: E731
    for v in (-0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        cv2.line(img, (left, y_of(v)), (left + pw, y_of(v)), (225, 225, 225) if v else (150, 150, 150), 1)
        cv2.putText(img, f"{v:.1f}", (left - 42, y_of(v) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1,
                    cv2.LINE_AA)
    for k, c in enumerate(cuts):
        cv2.putText(img, c, (x_of(k) - 20, top + ph + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (60, 60, 60), 1,
                    cv2.LINE_AA)
    cv2.putText(img, "randomized from the top down to (cascading)", (left, H - 22), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (40, 40, 40), 1, cv2.LINE_AA)
    cv2.putText(img, title, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
    for j, (m, v) in enumerate(corr.items()):
        colour = PALETTE[j % len(PALETTE)][::-1]    # drawn in BGR, saved as RGB below
        mean, sd = v.mean(0), v.std(0)
        pts = [(x_of(k), y_of(mean[k])) for k in range(len(cuts))]
        for k in range(len(cuts)):
            cv2.line(img, (pts[k][0], y_of(mean[k] - sd[k])), (pts[k][0], y_of(mean[k] + sd[k])), colour, 1)
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, p, 4, colour, -1, cv2.LINE_AA)
        ly = top + 20 + 24 * j
        cv2.line(img, (left + pw + 20, ly), (left + pw + 50, ly), colour, 3)
        cv2.putText(img, m, (left + pw + 58, ly + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (30, 30, 30), 1, cv2.LINE_AA)
    cv2.putText(img, "Spearman of |map|, mean +- sd", (8, top - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1,
                cv2.LINE_AA)
    return img[:, :, ::-1]


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    from .atlas.data import DataSetError, open_image_set
    from .atlas.figure import save_figure
    from .core.checkpoint import CheckpointError
    model = Path(a.model)
    out = Path(a.plot) if a.plot else Path(f"sanity-{model.stem}.png")
    try:
        if not a.plot and out.exists():
            raise DataSetError(f"{out} exists: pass --plot {out} to overwrite it, or another path")
        if not out.parent.exists():
            raise DataSetError(f"{out.parent}: no such folder for --plot")
        data = open_image_set(a.data)
        t0 = time.perf_counter()
        try:
            cuts, corr, used, sens = run(model, data, a.n, a.cam_layer, a.seed, not a.no_progress, a.methods)
        except ValueError as e:
            raise DataSetError(str(e)) from None
        if used == 0:
            raise DataSetError(f"{a.data}: no image could be read")
    except (DataSetError, CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130
    print(f"\nrank correlation (Spearman, |map|) between the model's maps and those of copies randomized from "
          f"the top down to each layer; {used} images, predicted class; mean +- sd\n")
    print("| randomized down to | " + " | ".join(corr) + " |")
    print("| --- |" + " ---: |" * len(corr))
    for k, c in enumerate(cuts):
        print(f"| {c} | " + " | ".join(f"{v[:, k].mean():.2f} +- {v[:, k].std():.2f}" for v in corr.values()) + " |")
    if sens:
        print("\nclass sensitivity (Sixt et al. 2020): rank correlation of |map| for the top class against the second "
              "class on the same image and model; near 1: the map hardly depends on the class\n")
        print("| | " + " | ".join(sens) + " |")
        print("| --- |" + " ---: |" * len(sens))
        print("| top vs 2nd class | " + " | ".join(f"{v.mean():.2f} +- {v.std():.2f}" for v in sens.values()) + " |")
    save_figure(out, plot(cuts, corr, f"cascading randomization: {model.name}, {used} images"))
    print(f"\nwrote {out} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
