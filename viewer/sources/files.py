"""Sources from files: one image, a folder of images (recursively, in name order), a video file."""
from __future__ import annotations

import time
from pathlib import Path

import cv2

from .base import IMAGE_EXTS, Source, SourceError, VIDEO_EXTS, read_image, to_rgb8


class ImageSource(Source):
    @classmethod
    def opens(cls, spec: str) -> bool:
        return Path(spec).is_file() and Path(spec).suffix.lower() in IMAGE_EXTS

    def __init__(self, path: Path):
        self.frame = read_image(path)
        self.name, self.seq = path.name, 1

    def read(self):
        return self.frame


class FolderSource(Source):
    """The images of a folder and its subfolders, in path order (as the atlas's --data FOLDER reads them); N / P
    step through them. An image that cannot be read is skipped, said once, and left out of the count."""
    steps = True

    @classmethod
    def opens(cls, spec: str) -> bool:
        return Path(spec).is_dir()

    def __init__(self, path: Path):
        self.files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
        if not self.files:
            raise SourceError(f"{path}: the folder holds no images ({', '.join(sorted(IMAGE_EXTS))}, searched "
                              "in its subfolders too)")
        self.path, self.frame, self.index, self.seq = path, None, 0, 0
        n = len(self.files)
        self._load(0, +1)
        if self.frame is None:
            raise SourceError(f"{path}: none of its {n} images can be read")

    def _load(self, start: int, step: int) -> None:
        skipped = []
        i = start % len(self.files)
        while self.files:
            try:
                self.frame, self.index, self.seq = read_image(self.files[i]), i, self.seq + 1
                break
            except SourceError:
                skipped.append(self.files.pop(i).name)     # out of the list: the count is of readable images
                if not self.files:
                    return
                i = (i if step > 0 else i - 1) % len(self.files)
        self.message = f"skipped unreadable: {', '.join(skipped)}" if skipped else ""
        rel = self.files[self.index].relative_to(self.path)
        self.name = f"{self.path.name}/{rel} ({self.index + 1}/{len(self.files)})"

    def read(self):
        return self.frame

    def next(self):
        self._load(self.index + 1, +1)

    def prev(self):
        self._load(self.index - 1, -1)


class VideoSource(Source):
    """Loops; with realtime=True frames advance at the video's own rate, else one frame per read()."""

    @classmethod
    def opens(cls, spec: str) -> bool:
        return Path(spec).is_file() and Path(spec).suffix.lower() in VIDEO_EXTS

    @classmethod
    def open(cls, spec: str, realtime: bool = True) -> "Source":
        return cls(Path(spec), realtime)

    def __init__(self, path: Path, realtime: bool = True):
        self.cap = cv2.VideoCapture(str(path))
        ok, frame = self.cap.read() if self.cap.isOpened() else (False, None)
        if not ok or frame is None:
            self.cap.release()
            raise SourceError(f"{path}: the video cannot be opened or has no frames")
        self.path, self.name, self.realtime = path, path.name, realtime
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.period = 1.0 / fps if fps and 1 <= fps <= 240 else 1 / 30
        self.frame, self.index, self.t_last, self.seq = to_rgb8(frame), 0, time.perf_counter(), 1
        self._first = True  # the frame read to check the file is the first one shown

    def read(self):
        now = time.perf_counter()
        if self._first or (self.realtime and now - self.t_last < self.period):
            self._first = False
            return self.frame
        self.t_last = now
        ok, frame = self.cap.read()
        if not ok:  # end of file: loop
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.cap.read()
            self.index = -1
        if ok and frame is not None:
            self.frame, self.index, self.seq = to_rgb8(frame), self.index + 1, self.seq + 1
        return self.frame

    def close(self):
        self.cap.release()
