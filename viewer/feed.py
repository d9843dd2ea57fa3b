"""The frame on screen: read from the source (a new one by the source's own counter), or an image the user
opened (an atlas patch's), kept as the window's own copy so that a request never changes under the worker."""
from __future__ import annotations

import numpy as np

from .sources import Source


class Feed:
    def __init__(self, source: Source):
        self.source = source
        self.frame: np.ndarray | None = None
        self.index = 0        # the source's index of the frame (a folder's image), or an atlas image's
        self.taken = 0        # frames taken so far (the live atlas numbers frames by it)
        self.label = ""       # what the frame is where it is not the source's own (an opened atlas image)
        self._seq: int | None = None

    @property
    def name(self) -> str:
        return self.label or self.source.name

    def poll(self, session) -> bool:
        """Take what is new: an opened image, else (not paused) the source's next frame. True when the frame
        changed. A frame that is not RGB uint8, or a source that raises, is said and skipped, never fatal."""
        from .session import Level
        if session.opened is not None:
            frame, index, self.label = session.opened
            session.opened, self.frame, self._seq = None, frame, None
            self.index = index if index >= 0 else self.index
            self.taken += 1
            return True
        if session.paused and self.frame is not None:
            return False
        try:
            frame, seq = self.source.read_seq()
        except Exception as e:  # a bad frame never crashes the app
            session.notify(f"source error: {type(e).__name__}: {e}", Level.WARN)
            return False
        if frame is None:
            return False
        if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
                and min(frame.shape[:2]) > 0):
            session.notify("source gave a frame that is not RGB uint8; skipped", Level.WARN)
            return False
        if seq is not None and seq == self._seq:      # the same frame, by the source's own counter
            return False
        self.take(frame, seq)
        return True

    def take(self, frame: np.ndarray, seq: int | None) -> None:
        self.frame, self.index, self._seq, self.label = frame.copy(), self.source.index, seq, ""
        self.taken += 1

    def step(self, step: int, session) -> bool:
        """N / P: the source's next or previous image, shown at once, paused or not."""
        from .session import Level
        if not self.source.steps:
            session.notify("N and P step through a folder source; this source has one stream", Level.WARN)
            return False
        (self.source.next if step > 0 else self.source.prev)()
        session.release_pin()
        frame, seq = self.source.read_seq()
        if frame is not None:
            self.take(frame, seq)
        return frame is not None
