"""The image sets the atlas (and the other data-set commands) read: the CIFAR-10 npz or the official
cifar-10-batches-py folder (the test split by default), a folder of images (searched recursively) or a video
file. Each gives RGB uint8 frames in a fixed order and an identity (path, size, count, fingerprint) that a
stored result is checked against."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cifar10 import DataError, load_cifar10  # CIFAR-10's readers, shared with the training lab
from ..core.checkpoint import sha256_of

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


class DataSetError(Exception):
    """The data set cannot be read; the message is one sentence for the user."""


@dataclass
class ImageSet:
    """Frames in a fixed order. frames() yields (index, RGB uint8 image); unreadable single images of a folder
    are skipped and counted in `skipped` (their index is not used)."""
    kind: str                          # "cifar10", "folder" or "video"
    path: Path
    count: int                         # frames it holds (a video: as its container says, until read)
    size_bytes: int
    fingerprint: str                   # sha256 of the file, or of a folder's names and sizes
    _images: np.ndarray | None = None  # cifar10: (N, 32, 32, 3)
    _files: list[Path] = field(default_factory=list)
    skipped: int = 0                   # unreadable images (each counted once, however often the set is read)
    _bad: set = field(default_factory=set)

    def identity(self) -> dict:
        return {"kind": self.kind, "path": str(self.path.resolve()), "size_bytes": self.size_bytes,
                "count": self.count, "fingerprint": self.fingerprint}

    def frames(self, limit: int | None = None, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(index, RGB image) of the first `limit` images, or of those in [start, stop) (a shard: not for a video,
        whose length is not known before it is read)."""
        n = self.count if limit is None else min(limit, self.count)
        n = n if stop is None else min(n, stop)
        if self.kind == "cifar10":
            for i in range(start, n):
                yield i, self._images[i]
        elif self.kind == "folder":
            import cv2
            for i, f in enumerate(self._files[start:n], start):
                img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if img is None or img.ndim != 3 or min(img.shape[:2]) == 0:
                    self._bad.add(i)
                    self.skipped = len(self._bad)
                    continue
                yield i, np.ascontiguousarray(img[:, :, ::-1])
        else:
            import cv2
            cap = cv2.VideoCapture(str(self.path))
            try:
                i = 0
                while limit is None or i < limit:
                    ok, img = cap.read()
                    if not ok:
                        break
                    yield i, np.ascontiguousarray(img[:, :, ::-1])
                    i += 1
                self.count = i if limit is None else self.count
            finally:
                cap.release()

    def image(self, index: int) -> np.ndarray | None:
        """One frame by its index (to show a stored entry's whole image); None where it cannot be read."""
        for i, img in self.frames(index + 1):
            if i == index:
                return img
        return None


def open_image_set(spec: str | Path, split: str = "test") -> ImageSet:
    """Open D (see the module doc); DataSetError with one sentence on anything wrong."""
    path = Path(spec)
    if not path.exists():
        from ..paths import NO_DATA_HINT, data_candidates
        hint = NO_DATA_HINT if path in data_candidates() else \
            "give the CIFAR-10 npz or folder, an image folder or a video file"
        raise DataSetError(f"{path}: no such file or folder ({hint})")
    if path.is_dir() and (path / "test_batch").exists() or path.suffix.lower() == ".npz":
        try:
            ds = load_cifar10(path, train=(split == "train"))
        except DataError as e:
            raise DataSetError(str(e)) from None
        images = ds.train.images if split == "train" else ds.test.images
        size = path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        return ImageSet("cifar10", path, len(images), size, f"{ds.sha256}:{split}", _images=images)
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise DataSetError(f"{path}: the folder holds no images ({', '.join(sorted(IMAGE_EXTS))}, searched "
                               "recursively)")
        h = hashlib.sha256()
        size = 0
        for f in files:
            st = f.stat()
            size += st.st_size
            h.update(f"{f.relative_to(path)}\0{st.st_size}\n".encode())
        return ImageSet("folder", path, len(files), size, h.hexdigest(), _files=files)
    if path.suffix.lower() in VIDEO_EXTS:
        import cv2
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                raise DataSetError(f"{path}: the video cannot be opened (an unsupported codec or a damaged file)")
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            ok, _ = cap.read()
        finally:
            cap.release()
        if not ok:
            raise DataSetError(f"{path}: the video has no readable frame")
        return ImageSet("video", path, max(n, 1), path.stat().st_size, sha256_of(path))
    raise DataSetError(f"{path}: not a data set this command reads (the CIFAR-10 .npz or cifar-10-batches-py "
                       f"folder, a folder of images, or a video {', '.join(sorted(VIDEO_EXTS))})")
