"""What every source is: the Source interface, the one-sentence SourceError, and image decoding to RGB uint8."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif"}
MAX_SIDE = 2048  # very large images are shrunk on load; the model sees its own input size, cut and resized


class SourceError(Exception):
    """A source cannot be opened; the message is one sentence meant for the user."""


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """Anything cv2.imread(IMREAD_UNCHANGED) returns -> RGB uint8 (H, W, 3): grey, alpha, 16-bit, float."""
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(np.nan_to_num(img.astype(np.float32)) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255)
        img = img.astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    if img.shape[2] == 4:
        img = img[:, :, :3]  # drop alpha
    out = np.ascontiguousarray(img[:, :, 2::-1])  # BGR -> RGB
    h, w = out.shape[:2]
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        out = cv2.resize(out, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return out


def read_image(path: Path) -> np.ndarray:
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    data = np.fromfile(str(path), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.size == 0:
        raise SourceError(f"{path}: not a readable image (corrupt, truncated or unknown format)")
    return to_rgb8(img)


class Source:
    name = "source"
    message = ""        # a line for the status bar (skipped files, lost camera), or ""
    index = 0           # frame or image index
    seq: int | None = None   # +1 for every new frame; None: the source does not say (every read is new)
    steps = False       # next() / prev() step through its images (a folder)

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    @classmethod
    def opens(cls, spec: str) -> bool:
        """Whether this kind of source is what the --source spelling `spec` names (see SOURCES)."""
        return False

    @classmethod
    def open(cls, spec: str, realtime: bool = True) -> "Source":
        return cls(Path(spec))

    def read_seq(self) -> tuple[np.ndarray | None, int | None]:
        """The current frame and its sequence number, read together (a camera thread may move on between)."""
        return self.read(), self.seq

    def next(self) -> None:
        """Next image (sources with steps = True); others ignore it."""

    def prev(self) -> None:
        """Previous image (sources with steps = True); others ignore it."""

    def close(self) -> None:
        pass
