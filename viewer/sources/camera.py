"""A webcam, read in its own thread; only the newest frame is kept."""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from .base import Source, SourceError, to_rgb8


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
