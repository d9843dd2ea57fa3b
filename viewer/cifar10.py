"""CIFAR-10 reading: the project's JPEG npz (../shared/data) or the official python-version folder.

Both decode once into memory as uint8 arrays (N, 32, 32, 3) RGB plus int64 labels. The official folder
is a set of pickles; they are read with a restricted unpickler that can build only numpy arrays, so a
tampered file cannot run code.

It lives at the top of the package, not in viewer/training, because the tool (the atlas's data sets) and
the training lab both read CIFAR-10, and the tool never imports the lab. Not in viewer/core either: the npz
path needs OpenCV (imported inside the function that decodes, so importing this module does not load it).
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.checkpoint import sha256_of
from .paths import NO_DATA_HINT, data_candidates, default_data

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class DataError(Exception):
    """The data could not be read; the message is one sentence meant for the user."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 32, 32, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64


@dataclass(frozen=True)
class Dataset:
    train: Split
    test: Split
    classes: tuple[str, ...]
    source: str
    sha256: str


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, name: str, limit: int | None) -> np.ndarray:
    import cv2  # only the data path needs OpenCV

    n = len(offsets) - 1 if limit is None else min(limit, len(offsets) - 1)
    out = np.empty((n, 32, 32, 3), np.uint8)
    for i in range(n):
        img = cv2.imdecode(blob[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR)
        if img is None or img.shape != (32, 32, 3):
            raise DataError(f"{name}: image {i} is not a decodable 32x32 JPEG; the data file is corrupt")
        out[i] = img[:, :, ::-1]  # BGR -> RGB
    return out


def load_npz(path: Path, limit_test: int | None = None, train: bool = True) -> Dataset:
    keys = ("train_jpeg", "train_offsets", "train_labels", "test_jpeg", "test_offsets", "test_labels")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise DataError(f"{path}: not a CIFAR-10 JPEG archive (missing {', '.join(missing)})")
            arrays = {k: z[k] for k in keys}
            classes = tuple(str(c) for c in z["classes"]) if "classes" in z.files else CIFAR10_CLASSES
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: cannot be read as a CIFAR-10 archive, the file is corrupt or truncated "
                        f"({type(e).__name__})") from None
    def split(prefix: str, limit: int | None) -> Split:
        imgs = _decode_jpegs(arrays[f"{prefix}_jpeg"], arrays[f"{prefix}_offsets"], str(path), limit)
        return Split(imgs, arrays[f"{prefix}_labels"][:len(imgs)].astype(np.int64))
    empty = Split(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64))
    return Dataset(split("train", None) if train else empty, split("test", limit_test), classes, str(path),
                   sha256_of(path))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            d = _NumpyOnlyUnpickler(fh, encoding="bytes").load()
        data = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(d[b"labels"], np.int64)
    except FileNotFoundError:
        raise DataError(f"{path.parent}: not a cifar-10-batches-py folder (no {path.name})") from None
    except Exception as e:
        raise DataError(f"{path}: not a CIFAR-10 batch file, corrupt or refused ({e})") from None
    return np.ascontiguousarray(data), labels


def load_batches_folder(path: Path, limit_test: int | None = None, train: bool = True) -> Dataset:
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else []
    parts = [_read_batch(path / n) for n in names]
    test_x, test_y = _read_batch(path / "test_batch")
    if limit_test is not None:
        test_x, test_y = test_x[:limit_test], test_y[:limit_test]
    tr = (Split(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])) if parts
          else Split(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64)))
    return Dataset(tr, Split(test_x, test_y), CIFAR10_CLASSES, str(path), sha256_of(path))


def load_cifar10(path: str | Path | None = None, limit_test: int | None = None, train: bool = True) -> Dataset:
    """Read the npz archive or the official `cifar-10-batches-py` folder; DataError on anything wrong."""
    path = Path(path) if path is not None else default_data()
    if not path.exists():
        hint = NO_DATA_HINT if path in data_candidates() else "expected cifar10-jpeg.npz or cifar-10-batches-py"
        raise DataError(f"{path}: no such file or folder ({hint})")
    if path.is_dir():
        return load_batches_folder(path, limit_test, train)
    return load_npz(path, limit_test, train)
