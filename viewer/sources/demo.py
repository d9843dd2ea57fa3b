"""The demo source: generated scenes and the shipped sample photographs, no camera needed."""
from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np

from ..paths import SAMPLES
from .base import IMAGE_EXTS, Source, SourceError, read_image


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
            # on the 30/s schedule, not 1/30 s after the read that found it due: a window drawing at 60/s reads
            # every 16.7 ms, and restarting the clock at each read gave a frame every 50 ms (20/s)
            late = self._frame is None or now - self._t >= 2.0 / self.FPS
            self._t = now if late else self._t + 1.0 / self.FPS
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
