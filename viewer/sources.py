"""Frame sources. One interface: read() -> RGB uint8 (H, W, 3) or None; close(). BGR -> RGB happens here
and nowhere else. The camera is read in its own thread and only the newest frame is kept.

    open_source("demo" | "webcam" | "webcam:1" | "clip.mp4" | "photo.png" | "folder/")
"""
from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from .paths import SAMPLES

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif"}
MAX_SIDE = 2048  # very large images are shrunk on load; the model sees a 32x32 crop anyway


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
        """Next image (folders); other sources ignore it."""

    def prev(self) -> None:
        """Previous image (folders); other sources ignore it."""

    def close(self) -> None:
        pass


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
    @classmethod
    def opens(cls, spec: str) -> bool:
        return Path(spec).is_dir()

    def __init__(self, path: Path):
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
        if not self.files:
            raise SourceError(f"{path}: the folder holds no images ({', '.join(sorted(IMAGE_EXTS))})")
        self.path, self.frame, self.index, self.seq = path, None, 0, 0
        self._load(0, +1)
        if self.frame is None:
            raise SourceError(f"{path}: none of its {len(self.files)} images can be read")

    def _load(self, start: int, step: int) -> None:
        skipped = []
        for k in range(len(self.files)):
            i = (start + k * step) % len(self.files)
            try:
                self.frame, self.index, self.seq = read_image(self.files[i]), i, self.seq + 1
                break
            except SourceError:
                skipped.append(self.files[i].name)
        self.message = f"skipped unreadable: {', '.join(skipped)}" if skipped else ""
        self.name = f"{self.path.name}/{self.files[self.index].name} ({self.index + 1}/{len(self.files)})"

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


class CameraSource(Source):
    """A webcam read in its own thread; only the newest frame is kept. A lost camera is retried."""

    @classmethod
    def opens(cls, spec: str) -> bool:
        return spec == "webcam" or spec.startswith("webcam:")

    @classmethod
    def open(cls, spec: str, realtime: bool = True) -> "Source":
        num = spec.partition(":")[2] or "0"
        if not num.isdigit():
            raise SourceError(f"'{spec}': a camera is written webcam or webcam:N with N a number")
        return cls(int(num))

    def __init__(self, device: int = 0, open_timeout: float = 3.0):
        self.device, self.name, self.seq = device, f"webcam:{device}", 0
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._stop = threading.Event()
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # "can't open camera" is ours to say
        try:
            self.cap = cv2.VideoCapture(device)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceError(f"webcam:{device}: no camera could be opened")
        self._thread = threading.Thread(target=self._loop, name="camera", daemon=True)
        self._thread.start()
        t0 = time.perf_counter()
        while self._frame is None and time.perf_counter() - t0 < open_timeout:
            time.sleep(0.01)
        if self._frame is None:
            self.close()
            raise SourceError(f"webcam:{device}: the camera opened but sends no frames")

    def _loop(self):
        while not self._stop.is_set():
            ok, frame = self.cap.read()
            if ok and frame is not None:
                with self._lock:
                    self._frame, self.index, self.message = to_rgb8(frame), self.index + 1, ""
                    self.seq += 1
                continue
            self.message = "camera lost; retrying"
            self.cap.release()
            if self._stop.wait(1.0):
                break
            self.cap = cv2.VideoCapture(self.device)

    def read(self):
        with self._lock:
            return self._frame

    def read_seq(self):
        with self._lock:
            return self._frame, self.seq

    def close(self):
        self._stop.set()
        if getattr(self, "_thread", None) is not None:
            self._thread.join(timeout=1.0)
        self.cap.release()


class DemoSource(Source):
    """Stimuli made by the project, one scene every `scene_frames` frames: drifting gratings, colour blobs,
    a rotating bar, rings, then any shipped sample photographs, slowly panned. realtime=True (the window's):
    a new frame at most FPS times a second, as a camera gives them; else one per read() (tests, export)."""

    FPS = 30

    @classmethod
    def opens(cls, spec: str) -> bool:
        return spec == "demo"

    @classmethod
    def open(cls, spec: str, realtime: bool = True) -> "Source":
        return cls(realtime=realtime)

    def __init__(self, size: int = 256, scene_frames: int = 300, samples: Path = SAMPLES, realtime: bool = False):
        self.realtime, self._frame, self._t = realtime, None, 0.0
        self.size, self.scene_frames, self.index, self.name, self.seq = size, scene_frames, 0, "demo", 0
        self.photos, skipped = [], []
        if samples.is_dir():
            for p in sorted(samples.iterdir()):
                if p.suffix.lower() in IMAGE_EXTS:
                    try:
                        self.photos.append(read_image(p))
                    except SourceError:
                        skipped.append(p.name)
        self.message = f"demo: skipped unreadable sample photographs: {', '.join(skipped)}" if skipped else ""
        self.scenes = [self._grating, self._blobs, self._bar, self._rings] + [self._photo] * len(self.photos)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
        self.yy, self.xx = yy, xx

    def read(self):
        if self.realtime:
            now = time.perf_counter()
            if self._frame is not None and now - self._t < 1.0 / self.FPS:
                return self._frame
            self._t = now
            self._frame = self._next()
            return self._frame
        return self._next()

    def _next(self):
        scene, t = divmod(self.index, self.scene_frames)
        scene %= len(self.scenes)
        frame = self.scenes[scene](t / self.scene_frames, scene)
        self.index, self.seq = self.index + 1, self.seq + 1
        return frame

    def _grating(self, t, _):
        theta = math.pi * t
        phase = 2 * math.pi * 4 * t
        u = self.xx * math.cos(theta) + self.yy * math.sin(theta)
        g = 0.5 + 0.5 * np.sin(2 * math.pi * 6 * u - phase)
        colour = np.array([1.0, 0.85, 0.3], np.float32) if t > 0.5 else np.ones(3, np.float32)
        return (g[:, :, None] * colour * 255).astype(np.uint8)

    def _blobs(self, t, _):
        img = np.full((self.size, self.size, 3), 0.45, np.float32)
        colours = [(1, 0.1, 0.1), (0.1, 0.8, 0.1), (0.15, 0.25, 1), (1, 0.9, 0.1)]
        ys, xs = self.yy[:, 0], self.xx[0]
        for k, c in enumerate(colours):
            a = 2 * math.pi * (t + k / 4)
            cy, cx = 0.28 * math.sin(a), 0.28 * math.cos(1.3 * a)
            # a Gaussian is the product of two 1-D ones: 2 x 256 exponentials, not 65,536 (3 ms a frame, not 10)
            w = np.outer(np.exp(-(ys - cy) ** 2 / (2 * 0.08 ** 2)), np.exp(-(xs - cx) ** 2 / (2 * 0.08 ** 2)))
            img += w[:, :, None] * (np.array(c, np.float32) - img)        # img (1 - w) + w c
        return (img * 255).astype(np.uint8)

    def _bar(self, t, _):
        theta = 2 * math.pi * t
        u = self.xx * math.cos(theta) + self.yy * math.sin(theta)
        v = -self.xx * math.sin(theta) + self.yy * math.cos(theta)
        bar = ((np.abs(u) < 0.06) & (np.abs(v) < 0.35)).astype(np.float32)
        img = np.repeat(0.15 + 0.8 * bar[:, :, None], 3, axis=2)  # white bar on grey
        return (img * 255).astype(np.uint8)

    def _rings(self, t, _):
        r = np.sqrt(self.yy ** 2 + self.xx ** 2)
        g = 0.5 + 0.5 * np.sin(2 * math.pi * 8 * r - 2 * math.pi * 3 * t)
        img = np.stack([g, 0.5 * g + 0.25, 1 - g], axis=2)
        return (img * 255).astype(np.uint8)

    def _photo(self, t, scene):
        photo = self.photos[(scene - 4) % len(self.photos)]
        h, w = photo.shape[:2]
        side = int(min(h, w) * (0.9 - 0.3 * t))
        top = int((h - side) * (0.5 + 0.4 * math.sin(2 * math.pi * t) / 2))
        left = int((w - side) * t)
        crop = photo[top:top + side, left:left + side]
        return cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)


# the kinds of source, asked in this order which one a --source spelling names (a new kind: one line here)
SOURCES: tuple[type[Source], ...] = (DemoSource, CameraSource, FolderSource, VideoSource, ImageSource)


def open_source(spec: str, realtime: bool = True) -> Source:
    """Open a source from its command-line spelling: the first kind in SOURCES that claims it; a file of
    unknown extension is tried as an image, then as a video. SourceError on anything that does not open."""
    for kind in SOURCES:
        if kind.opens(spec):
            return kind.open(spec, realtime)
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"{spec}: no such file or folder (sources: demo, webcam[:N], an image, a video, a folder)")
    try:  # unknown extension: try as an image, then as a video
        return ImageSource(path)
    except SourceError:
        return VideoSource(path, realtime)


def default_source() -> Source:
    """The first webcam if one opens, else the demo source."""
    try:
        return CameraSource(0, open_timeout=2.0)
    except SourceError:
        return DemoSource(realtime=True)
