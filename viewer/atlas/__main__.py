"""python -m viewer.atlas: the unit atlas command (see viewer/atlas/__init__.py)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..paths import SHIPPED_MODEL, default_data, prog, version

DESCRIPTION = """\
The unit atlas: for every channel of the chosen layers, the K images of a data set that drive it hardest,
with the unit's receptive-field patch and its reconstructions cut to the same box (the Deep Visualization
Toolbox's top images, the paper's Figure 3). Reconstructions by each of --methods (default all):
  {methods}

Each image counts once per channel, at the channel's strongest position in that image (as DVT and the
paper do); equal activations keep the earlier image. A patch whose box reaches past the image border is
padded, and the padding is marked (a checkerboard in the figure and the window).

The result is one .npz (np.load(..., allow_pickle=False)) that records the model file's sha256, the data
set's identity and the settings: an existing --out made from the same is reused, one made from anything
else is rebuilt (the default file only when named with --out). Written atomically: Ctrl-C leaves no
partial file. Open it in the window with `python run_viewer.py --atlas FILE` (key A).

examples:
  python -m viewer.atlas                                   # shipped All-CNN-C, CIFAR-10 test set, all layers
  python -m viewer.atlas --layers conv6 conv9 --figure docs/atlas.png
  python -m viewer.atlas --model my.pt --data photos/ --top 16 --out my_atlas.npz
  python -m viewer.atlas --shard 2/8 ...                   # the 2nd of 8 slices (one task of a cluster job)
  python -m viewer.atlas merge atlas-*.shard-*.npz --out atlas.npz   # equals the unsharded atlas
"""


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text}: expected K/N, e.g. 2/8") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: K must be 1..N")
    return k, n


def merge_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=prog("viewer.atlas") + " merge",
                                description="Join the shards of an atlas (made with --shard K/N) into one file, equal to "
                                            "the atlas of the whole data set.")
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("parts", nargs="+", help="the N shard files")
    p.add_argument("--out", required=True, help="the merged atlas file (an existing one is replaced only if it is "
                                                "an atlas file)")
    a = p.parse_args(argv)
    from .merge import merge_atlases
    from .store import AtlasError, read_meta, save_atlas
    out = Path(a.out)
    try:
        for part in a.parts:
            if not Path(part).is_file():
                raise AtlasError(f"{part}: no such file")
        if out.exists():
            read_meta(out)                   # refuses to replace anything but an atlas file
        atlas = merge_atlases([Path(x) for x in a.parts])
        save_atlas(out, atlas)
    except (AtlasError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = sum(int((la.images >= 0).sum()) for la in atlas.layers.values())
    print(f"wrote {out}: {len(a.parts)} shards merged, {len(atlas.layers)} layers, {n} entries from "
          f"{len(atlas.view_ids)} images")
    return 0


def parse_args(argv):
    from ..core import methods as registry   # read now: a method registered later is offered too
    names = [m.value for m in registry.METHODS]
    listed = ", ".join(m.value if m.label == m.value else f"{m.value} ({m.label})" for m in registry.METHODS)
    p = argparse.ArgumentParser(prog=prog("viewer.atlas"), description=DESCRIPTION.format(methods=listed),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("--model", default=str(SHIPPED_MODEL), help="a checkpoint file (default: the shipped All-CNN-C)")
    p.add_argument("--data", default=str(default_data()),
                   help="the CIFAR-10 npz or cifar-10-batches-py folder (its test split unless --split train), "
                        "a folder of images (subfolders searched too) or a video file (default: CIFAR-10 from "
                        "$CNN_VIEWER_DATA, else the download of `cnn-viewer-data cifar10`, else a checkout's "
                        "../shared copy; found here: %(default)s)")
    p.add_argument("--split", choices=["test", "train"], default="test", help="CIFAR-10's split (default test)")
    p.add_argument("--layers", nargs="+", help="layers to cover (default: every layer with a spatial map)")
    p.add_argument("--top", type=int, default=9, help="K, the images kept per channel (default 9)")
    p.add_argument("--methods", nargs="+", choices=names, metavar="METHOD",
                   help=f"whose reconstructions to store: {', '.join(names)} (default: all but the LRP "
                        "composites, which need a pass of their own per image; the window says where the atlas lacks "
                        "its current method)")
    p.add_argument("--rank", choices=["activation", "relevance", "both"], default="activation",
                   help="how each channel's top images are chosen: by the channel's activation (default), by its "
                        "relevance for the image's predicted class (LRP EpsilonPlusFlat; CRP's relevance "
                        "maximization: a pass with its backward per batch), or both (A in the window switches)")
    p.add_argument("--optimize", nargs="?", const="fourier", choices=["fourier", "dvt"], metavar="METHOD",
                   help="also store what each channel wants: an image optimized for it at the centre of its map "
                        "(fourier, the default, or dvt; 256 steps; minutes for every layer: see docs/featvis.md)")
    p.add_argument("--optimize-diverse", type=int, default=0, metavar="N", help="with --optimize: N more images per "
                   "channel, pushed apart by Lucid's diversity term (the different things a unit responds to)")
    p.add_argument("--limit", type=int, help="use only the first N images of the data set")
    p.add_argument("--shard", type=parse_shard, metavar="K/N", help="scan only the K-th of N equal slices of the "
                   "images into a partial file; join the N parts with `python -m viewer.atlas merge` (docs/atlas.md)")
    p.add_argument("--batch", type=int, default=250, help="images per forward pass of the scan (default 250)")
    p.add_argument("--out", help="the atlas file (default: atlas-MODEL.npz in the current folder)")
    p.add_argument("--figure", metavar="PNG", help="also draw a sheet like the paper's Figure 3 (default layers "
                   "conv6 and conv9 where the atlas has them) into this PNG")
    p.add_argument("--figure-layers", nargs="+", help="layers of the figure (default conv6 conv9)")
    p.add_argument("--figure-units", type=int, default=4, help="units per layer in the figure, the most "
                   "active ones (default 4)")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda|cuda:N|mps",
                   help="where the scan and the reconstructions run (default auto: the GPU when torch sees one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    if a.optimize_diverse and not a.optimize:
        p.error("--optimize-diverse N goes with --optimize")
    if a.optimize_diverse < 0 or a.optimize_diverse == 1:
        p.error("--optimize-diverse N: N is 2 or more (images pushed apart from each other)")
    if a.top < 1 or a.batch < 1 or (a.limit is not None and a.limit < 1) or a.figure_units < 1:
        p.error("--top, --batch, --limit and --figure-units must be 1 or more")
    return a


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    a = parse_args(argv)
    from .build import build_atlas, plan, same_atlas
    from .data import DataSetError, open_image_set
    from .store import AtlasError, load_atlas, read_meta, save_atlas
    model = Path(a.model)
    shard = f".shard-{a.shard[0]}-of-{a.shard[1]}" if a.shard else ""
    out = Path(a.out) if a.out else Path(f"atlas-{model.stem}{shard}.npz")
    try:
        if not model.is_file():
            raise AtlasError(f"{model}: no such model file (an atlas is made from a checkpoint file)")
        if out.exists() and not out.is_file():
            raise AtlasError(f"{out} is not a file")
        if not out.parent.exists():
            raise AtlasError(f"{out.parent}: no such folder for --out")
        from ..core.device import DeviceError, choose_device
        try:
            choose_device(a.device)                   # a device torch does not see: said before any work
        except DeviceError as e:
            raise AtlasError(str(e)) from None
        data = open_image_set(a.data, a.split)
        if a.shard and data.kind == "video":
            raise AtlasError(f"{a.data}: a video's length is known only once it is read: shard a folder of images or "
                             "the CIFAR-10 archive")
        existing = read_meta(out) if out.exists() else None   # an --out that is not an atlas is refused
        try:
            planned = plan(model, data, a.layers, a.top, a.limit, a.split, a.methods, a.rank, a.optimize,
                           a.optimize_diverse)
            expected = planned[-1]
            if a.shard:
                from .build import shard_range
                total = data.count if a.limit is None else min(a.limit, data.count)
                start, stop = shard_range(total, *a.shard)
                expected = {**expected, "shard": {"k": a.shard[0], "n": a.shard[1], "start": start, "stop": stop}}
        except ValueError as e:
            raise AtlasError(str(e)) from None
        changed = same_atlas(existing, expected) if existing is not None else "new"
        if not changed:
            print(f"{out}: up to date (made from the same model file, data set and settings): reused")
            atlas = load_atlas(out)
        else:
            if existing is not None and not a.out:   # never replace a file this run was not given
                raise AtlasError(f"{out} was made from another model, data set or settings ({changed} changed): "
                                 f"pass --out {out} to rebuild it, or another --out")
            if existing is not None:
                print(f"{out}: {changed} changed since it was made: rebuilding it")
            t0 = time.perf_counter()
            try:
                atlas, stats = build_atlas(model, data, a.layers, a.top, a.batch, a.limit, a.split,
                                           progress=not a.no_progress, planned=planned,
                                           device=a.device, methods=a.methods, rank=a.rank, shard=a.shard)
            except ValueError as e:
                raise AtlasError(str(e)) from None
            save_atlas(out, atlas)
            total = time.perf_counter() - t0
            recons = stats.entries * len(expected["settings"]["methods"])
            skipped = f", {stats.skipped} unreadable image{'s' * (stats.skipped > 1)} skipped" if stats.skipped else ""
            scanned = stats.scan_s or stats.relevance_s
            kind = "scan" if stats.scan_s else "relevance scan (the activations from the same pass)" \
                if a.rank == "both" else "relevance scan"
            print(f"wrote {out}: {len(atlas.layers)} layers, {stats.entries} entries (top {a.top}) from "
                  f"{stats.images} images{skipped}; {kind} {scanned:.1f} s "
                  f"({stats.images / max(scanned, 1e-9):.0f} images/s), "
                  + (f"optimized images {stats.optimize_s:.1f} s, " if stats.optimize_s else "") +
                  f"{recons} reconstructions in "
                  f"{stats.recon_s:.1f} s ({recons / max(stats.recon_s, 1e-9):.0f}/s); {total:.1f} s in all")
        if atlas.meta["settings"].get("optimize"):
            from .optimize import quality_table
            print("what each channel wants (--optimize), against the data set's best:")
            print("\n".join(quality_table(atlas)))
        if a.figure:
            from .figure import render_figure, save_figure
            names = a.figure_layers or [n for n in ("conv6", "conv9") if n in atlas.layers] or list(atlas.layers)[:2]
            missing = [n for n in names if n not in atlas.layers]
            if missing:
                raise AtlasError(f"--figure-layers {', '.join(missing)}: not in the atlas ({', '.join(atlas.layers)})")
            fig = Path(a.figure)
            save_figure(fig, render_figure([atlas.layers[n] for n in names], a.figure_units))
            print(f"wrote {fig}: {', '.join(names)}, {a.figure_units} units each")
    except (AtlasError, DataSetError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: {out} was not written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
