"""Where the project's files are: one home for the paths the tool, the training lab and the bench share.

The shipped model, the comparison networks and the sample photographs are in `viewer/checkpoints` (in the
checkout a link to the top-level `checkpoints/` folder; in a wheel, package data), so every default resolves from
the installed package, never from the current folder. Functions, not constants, where the answer depends on the
user's environment (read at each use)."""
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent                                            # the checkout (or site-packages when installed)
CHECKPOINTS = PACKAGE / "checkpoints"
SHIPPED_MODEL = CHECKPOINTS / "allcnn_c_cifar10.pt"              # the trained All-CNN-C the tool opens
MODEL_C = CHECKPOINTS / "model_c_cifar10.pt"                     # the paper's Model C (--compare, bench)
SAMPLES = CHECKPOINTS / "samples"                                # sample photographs (with their licences)
DATA_ENV = "CNN_VIEWER_DATA"                                     # where a user keeps CIFAR-10 (file or folder)


def shipped(text: str | None) -> str | None:
    """A `checkpoints/...` path as the README writes it: as given where it exists from here (a checkout's root),
    else the shipped copy in the installed package where that exists (so the README's commands work after pip
    install, from any folder); any other text unchanged."""
    if not text or Path(text).exists():
        return text
    parts = Path(text).parts
    if parts and parts[0] == "checkpoints" and (CHECKPOINTS.joinpath(*parts[1:])).exists():
        return str(CHECKPOINTS.joinpath(*parts[1:]))
    return text


def cache_dir() -> Path:
    """Where the tool keeps what it downloaded or computed once: $XDG_CACHE_HOME/cnn-viewer, else
    ~/.cache/cnn-viewer."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cnn-viewer"


def data_candidates() -> list[Path]:
    """Where CIFAR-10 is looked for, in order: $CNN_VIEWER_DATA, what `cnn-viewer-data cifar10` downloads
    (the official python-version folder in the cache), this project's npz in the cache, and the development
    machines' ../shared/data/cifar10-jpeg.npz beside a checkout."""
    found = [Path(os.environ[DATA_ENV])] if os.environ.get(DATA_ENV) else []
    return found + [cache_dir() / "cifar-10-batches-py", cache_dir() / "cifar10-jpeg.npz",
                    ROOT.parent / "shared" / "data" / "cifar10-jpeg.npz"]


def default_data() -> Path:
    """The first of data_candidates() that exists ($CNN_VIEWER_DATA whenever it is set); else where the
    download puts it (a missing path: the caller's error names `cnn-viewer-data cifar10`)."""
    cands = data_candidates()
    if os.environ.get(DATA_ENV):
        return cands[0]
    return next((c for c in cands if c.exists()), cands[0])


NO_DATA_HINT = ("no CIFAR-10 here: `cnn-viewer-data cifar10` downloads it (163 MB, into ~/.cache/cnn-viewer), or "
                f"point --data (or ${DATA_ENV}) at cifar-10-batches-py or cifar10-jpeg.npz")


def version() -> str:
    """The installed package's version (cnn-viewer), for --version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v
    try:
        return v("cnn-viewer")
    except PackageNotFoundError:
        return "(not installed: run from a checkout)"


def prog(module: str) -> str:
    """A command's name in its --help and --version: the installed script's (cnn-viewer-atlas) where it was run as
    one, else `python -m MODULE`."""
    import sys
    name = Path(sys.argv[0]).name
    return name if name.startswith("cnn-viewer") else f"python -m {module}"
