"""The model in its own process against the worker thread (python -m viewer.bench process): the window's share
of the engine with `--worker process` (viewer/process_worker.py) and with the default thread, the real App on
each in alternating rounds against the same worker step alone."""
from __future__ import annotations

import os
import statistics
import time

from .common import Row, load_allcnn


def bench_process(checkpoint, frames: int, rounds: int = 3) -> list[Row]:
    """For W at 32x32 and one unit at 224x224: the worker step alone, the app with the thread, the app with the
    process, in alternating rounds (the machine's drift moves all three alike)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import dataclasses

    import pygame

    from ..app import App
    from ..core.graph import build_graph
    from ..core.precision import Precision, choose_precision
    from ..core.preprocess import InputSpec
    from ..pipeline import Pipeline
    from ..process_worker import Part, ProcessWorker, Recipe
    from ..sources import DemoSource
    from ..worker import Worker
    from .live import run_app
    model, label, spec, classes = load_allcnn(checkpoint)
    bf16 = choose_precision(Precision.AUTO).bf16
    pygame.display.init()
    pygame.font.init()
    rows: list[Row] = []
    try:
        screen = pygame.display.set_mode((1280, 800))
        for size, whole in ((32, True), (224, False)):
            sp = spec if size == 32 else InputSpec((size, size), spec.mean, spec.std)
            layers = build_graph(model, (3, size, size))
            pipe = Pipeline(model, layers, sp, bf16=bf16)
            title = "All-CNN-C 32x32, whole-layer view (W)" if whole else "All-CNN-C 224x224, one conv6 unit"
            apps = {"thread": App(screen, DemoSource(realtime=True), Worker(pipe), layers, classes, label),
                    "process": App(screen, DemoSource(realtime=True),
                                   ProcessWorker(Recipe((Part(model, layers, sp),), bf16)), layers, classes, label)}
            rates: dict[str, list[float]] = {"alone": [], "thread": [], "process": []}
            src = DemoSource()
            for _ in range(rounds):
                for name, app in apps.items():
                    app.session.part("whole_layer").on = whole
                    app.update()
                    app.worker.wait_idle(60)
                    n0, t0 = app.worker.completed, time.perf_counter()
                    run_app(app, frames, title, fps=60)
                    rates[name].append((app.worker.completed - n0) / (time.perf_counter() - t0))
                    app.worker.wait_idle(60)
                req = apps["thread"].session.request(src.read(), 0, 0.0, 10**6, apps["thread"].grid_geom())
                pipe.compute(req)
                steps, t = max(3, int(rates["thread"][-1] * 2)), time.perf_counter()
                for _ in range(steps):
                    pipe.compute(dataclasses.replace(req, frame=src.read()))
                rates["alone"].append(steps / (time.perf_counter() - t))
            alone = statistics.median(rates["alone"])
            rows.append((f"{title}: worker step alone, fresh frames ({rounds} rounds)", 1000 / alone,
                         f"{alone:.1f} results/s"))
            for name in ("thread", "process"):
                r = statistics.median(rates[name])
                rows.append((f"{title}: the app, model in a {name}, drawing capped at 60/s", 1000 / r,
                             f"{r:.1f} results/s: {r / alone:.0%} of the worker alone"))
            for app in apps.values():
                app.worker.shutdown()
    finally:
        pygame.quit()
    return rows
