"""Shift+S (or --record OUT.mp4): record the window to an MP4 as it is drawn, with a JSON-lines file beside it
(one line per window drawn: time, the first clip frame showing it, layer, unit, method, modes, top class), for a
class or a talk. The clip runs in real time at FPS frames per second: a frame drawn less often is repeated until
the next. Nothing is ever overwritten: a new name each time, and --record refuses an existing file."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .base import Feature, Key

FPS = 30


class Recorder:
    """One clip being written: the MP4 (OpenCV's VideoWriter, mp4v) and its JSON-lines log."""

    def __init__(self, path: Path, size: tuple[int, int]):
        import cv2
        self.path, self.size, self.frames, self.t0 = path, size, 0, time.perf_counter()
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
        if not self.writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot write an MP4 here")
        self.log = open(path.with_suffix(".jsonl"), "w")

    def add(self, rgb: np.ndarray, info: dict, now: float) -> None:
        """The window's pixels (H, W, 3) at time now: written as often as the clip's clock has moved on (at
        least once, at most a second's worth after a stall)."""
        due = int((now - self.t0) * FPS) + 1 - self.frames
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        for _ in range(max(1, min(due, FPS))):
            self.writer.write(bgr)
            self.frames += 1
        self.log.write(json.dumps({"t": round(now - self.t0, 3), "frame": self.frames - 1, **info}) + "\n")

    def close(self) -> None:
        self.writer.release()
        self.log.close()


class RecordingState:
    def __init__(self, path: str | None, folder: Path):
        self.pending = Path(path) if path else None   # --record: start with the first drawn frame
        self.folder = folder                          # where Shift+S puts its clips (--save-dir)
        self.recorder: Recorder | None = None


def free_name(folder: Path) -> Path:
    """recording-YYYYmmdd-HHMMSS-NN.mp4 in folder, a name no file has."""
    base, k = time.strftime("recording-%Y%m%d-%H%M%S"), 0
    while (folder / f"{base}-{k:02d}.mp4").exists() or (folder / f"{base}-{k:02d}.jsonl").exists():
        k += 1
    return folder / f"{base}-{k:02d}.mp4"


class Recording(Feature):
    name, title = "recording", "recording"

    def keys(self):
        return (Key(("s",), True, "record the window to MP4 + JSON lines (start / stop)", self.toggle),)

    def initial(self, options):
        return RecordingState(options.get("record"), Path(options.get("save_dir") or "screenshots"))

    def toggle(self, session) -> None:
        st = session.part(self.name)
        if st.recorder is not None:
            self.close(session)
        else:
            st.pending = free_name(st.folder)
        session.changed()

    def mode(self, session) -> str:
        rec = session.part(self.name).recorder
        return f"REC {rec.frames / FPS:.0f} s: Shift+S stops" if rec is not None else ""

    def drawn(self, session, surface, now: float) -> None:
        import pygame

        from ..session import Level
        st = session.part(self.name)
        if st.pending is not None:
            path, st.pending = st.pending, None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                st.recorder = Recorder(path, surface.get_size())
                session.notify(f"recording to {path} (Shift+S stops)")
            except OSError as e:
                session.notify(f"cannot record: {e}", Level.WARN)
        rec = st.recorder
        if rec is None:
            return
        if surface.get_size() != rec.size:           # the window was resized: this clip ends here
            self.close(session)
            return
        r = session.result
        u = r.unit if r is not None else None
        info = {"layer": session.info.name, "unit": None if u is None else [u.layer, u.channel, u.y, u.x],
                "method": session.method.value, "modes": session.modes(),
                "top_class": session.classes[int(r.probs.argmax())] if r is not None and r.probs.size else None}
        rec.add(pygame.surfarray.array3d(surface).transpose(1, 0, 2), info, now)

    def close(self, session) -> None:
        st = session.part(self.name)
        if st.recorder is not None:
            rec, st.recorder = st.recorder, None
            rec.close()
            session.notify(f"saved {rec.path} ({rec.frames} frames, {rec.frames / FPS:.1f} s) and its .jsonl")
