"""A long session in the real App loop (python -m viewer.bench soak --frames 30000): every mode switched on and
off in turn by its key, the pointer moving over the panes, a new demo frame every draw; the process's resident
memory after the first 1,000 frames and at the end. What a long session holds that it does not need shows as
growth (target: under 50 MB). Each reading waits for the worker to finish the result in flight and collects
Python's garbage first: a reading taken mid-result counts that result's working set (tens of MB, more with W),
which made single readings vary by +-60 MB and looked like growth."""
from __future__ import annotations

import gc
import os
import time
from pathlib import Path

from .common import Row

# the keys pressed in turn, one every STEP frames (each mode goes on and, a round later, off)
KEYS = ("w", "f", "g", "x", "z", "a", "v", "c", "m", "l", "b", "right", "down", "left", "space", "space", "h", "h")
STEP = 40


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def trimmed_rss_mb() -> float:
    """Resident memory after glibc hands its free heap back (malloc_trim): what the process still holds. The
    app keeps up to 128 MiB of freed heap on purpose (core/memory.py), which the plain figure includes."""
    import ctypes
    import ctypes.util
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return rss_mb()


def bench_soak(checkpoint: Path | None, frames: int) -> list[Row]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from ..app import App
    from ..core.graph import build_graph
    from ..pipeline import Pipeline
    from ..sources import DemoSource
    from ..worker import Worker
    from .common import load_allcnn
    model, label, spec, classes = load_allcnn(checkpoint)
    layers = build_graph(model)
    pygame.display.init()
    pygame.font.init()
    try:
        app = App(pygame.display.set_mode((1280, 800)), DemoSource(), Worker(Pipeline(model, layers, spec)), layers,
                  classes, label)
        marks: dict[int, float] = {}
        t0, k = time.perf_counter(), 0
        while app.frames_drawn < frames:
            n = app.frames_drawn
            if n and n % STEP == 0 and n // STEP != k:
                k = n // STEP
                key = KEYS[k % len(KEYS)]
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.key.key_code(key), mod=0))
                x, y = (97 * k) % 1280, (53 * k) % 800      # the pointer wanders: tooltips of every pane
                pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=(x, y), rel=(0, 0), buttons=(0, 0, 0)))
            app.dirty = True                                  # draw every turn: the most text, the most churn
            app.step(fps=0)
            if app.frames_drawn in (1000, frames) and app.frames_drawn not in marks:
                app.worker.wait_idle()    # not mid-result: its working set is not what the session holds
                gc.collect()
                marks[app.frames_drawn] = (rss_mb(), trimmed_rss_mb())
        dt = time.perf_counter() - t0
        app.worker.shutdown()
    finally:
        pygame.quit()
    (start, start_held), (end, end_held) = marks.get(1000, (0.0, 0.0)), marks.get(frames, (0.0, 0.0))
    return [(f"{frames} frames of the real loop, every mode cycled ({label}): resident at frame 1,000",
             start, f"{frames / dt:.0f} frames/s, {dt:.0f} s"),
            (f"resident at frame {frames}", end, f"growth {end - start:+.0f} MB, with the free heap the app keeps"),
            ("held at frame 1,000 (free heap handed back: malloc_trim)", start_held, ""),
            (f"held at frame {frames}", end_held, f"growth {end_held - start_held:+.0f} MB (target < 50 MB)")]
