"""How concentrated each method's maps are, in two (or more) models on the same test images: the paper's comparison
as a number (python -m viewer.concentration MODEL...).

For each image, the layer's most active channel at its strongest position and the predicted class are explained by
every method; a map's concentration is the share of its absolute value (summed over colours) that lies in its
top 5% of pixels (1/20 = 0.05 for a map spread evenly, 1.0 for one pixel). The table gives the median over the
images, per model, method and target. Max-pooling's switches route a deconvnet signal to the pixels that won
(concentrated), a strided convolution spreads it by its weights; the numbers say how much of that reaches the
input under each rule.

    python -m viewer.concentration checkpoints/allcnn_c_e15_cifar10.pt checkpoints/convpool_cnn_c_cifar10.pt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

TOP = 0.05


def concentration(image: np.ndarray, top: float = TOP) -> float:
    """Share of sum |image| (summed over its first axis, the colours) in the top `top` of its pixels."""
    a = np.sort(np.abs(image.sum(0)).ravel())[::-1]
    total = a.sum()
    return float(a[:max(1, int(top * a.size))].sum() / total) if total > 0 else 0.0


def measure(path: Path, layer: str, images: np.ndarray, methods: list[str]) -> dict[str, tuple[float, float]]:
    """method -> (median concentration of the unit's maps, of the class's maps) over the images."""
    from .core.attribution import Analyzer, ChannelTarget, ClassTarget
    from .core.checkpoint import load_checkpoint
    from .core.graph import build_graph
    from .core.lrp_method import pixel_bounds
    from .core.methods import method_named
    from .core.preprocess import InputSpec, to_batch
    loaded = load_checkpoint(path)
    model, spec = loaded.model.eval(), InputSpec.from_meta(loaded.meta)
    layers = build_graph(model, (spec.channels, *spec.size))
    if layer not in {l.name for l in layers}:
        raise ValueError(f"{path}: no layer named {layer} ({', '.join(l.name for l in layers)})")
    analyzer = Analyzer(model, layers, pixel_bounds=pixel_bounds(spec.mean, spec.std, spec.channels))
    out = {}
    for name in methods:
        method, unit, cls = method_named(name), [], []
        for view in images:
            fp = analyzer.forward(to_batch(view[None], spec))
            act = fp.activation(layer)
            channel = int(act.flatten(1).max(1).values.argmax())
            maps = method.reconstruct(analyzer, fp, [ChannelTarget(layer, channel),
                                                     ClassTarget(int(fp.logits.argmax()))]).images
            unit.append(concentration(maps[0].numpy()))
            cls.append(concentration(maps[1].numpy()))
            del fp
        out[name] = (float(np.median(unit)), float(np.median(cls)))
    return out


def main(argv: list[str] | None = None) -> int:
    from .paths import default_data, prog, shipped, version
    p = argparse.ArgumentParser(prog=prog("viewer.concentration"), description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", type=lambda t: Path(shipped(t)),
                   help="checkpoints of networks with the named layer (checkpoints/... also from an installed "
                        "package)")
    p.add_argument("--layer", default="conv7", help="the layer whose most active unit is explained (default conv7)")
    p.add_argument("--images", type=int, default=200, help="how many test images, spread evenly over the 10,000 (default 200)")
    p.add_argument("--methods", nargs="+", default=["deconvnet", "guided", "lrp-epsilon-plus-flat",
                                                    "lrp-epsilon-gamma-box"], help="methods to compare")
    p.add_argument("--data", type=Path, default=None, help="CIFAR-10 (default: as the atlas finds it)")
    p.add_argument("--version", action="version", version=version())
    a = p.parse_args(argv)
    from .core.checkpoint import CheckpointError
    from .cifar10 import DataError, load_cifar10
    try:
        data = load_cifar10(a.data or default_data(), train=False)
        views = data.test.images[::max(1, len(data.test.images) // max(1, a.images))][:a.images]
        results = {m: measure(m, a.layer, views, a.methods) for m in a.models}
    except (CheckpointError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Share of each map in its top {TOP:.0%} of pixels, median over {len(views)} test images "
          f"(unit: {a.layer}'s most active; class: the predicted one)\n")
    print("| method | " + " | ".join(f"{m.name}: unit | class" for m in a.models) + " |")
    print("| --- | " + " | ".join("---: | ---:" for _ in a.models) + " |")
    for name in a.methods:
        print(f"| {name} | " + " | ".join(f"{results[m][name][0]:.2f} | {results[m][name][1]:.2f}"
                                          for m in a.models) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
