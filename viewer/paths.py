"""Where the project's files are: one home for the paths the tool, the training lab and the bench share."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent                    # the checkout (installed editable)
SHIPPED_MODEL = ROOT / "checkpoints" / "allcnn_c_cifar10.pt"     # the trained All-CNN-C the tool opens
MODEL_C = ROOT / "checkpoints" / "model_c_cifar10.pt"           # the paper's Model C (--compare, bench)
SAMPLES = ROOT / "checkpoints" / "samples"                       # sample photographs (with their licences)
CIFAR10_NPZ = ROOT.parent / "shared" / "data" / "cifar10-jpeg.npz"  # the data set beside the checkout


def cache_dir() -> Path:
    """Where the tool keeps what it computed once (optimized images): $XDG_CACHE_HOME/allconv-viewer, else
    ~/.cache/allconv-viewer. Read at each use (a test points it elsewhere)."""
    import os
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "allconv-viewer"
