"""The model in its own process against the worker thread (python -m viewer.bench process): issue 36's candidate
for the window's share of the engine. A probe, not the app's design: ProcessWorker has the Worker's interface
(submit, latest, idle, completed, shutdown) with the model in a child process; requests and results travel
pickled through two pipes (a 224x224 result is about 2.5 MB); the child takes the newest request waiting
(latest wins) and sends each result back. The table runs the real App on each in alternating rounds against
the same worker step alone."""
from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import threading
import time

from .common import Row, load_allcnn


def _serve(requests, results, model, size: int, spec, bf16: bool) -> None:
    import torch

    from ..core.graph import build_graph
    from ..core.memory import keep_freed_memory
    from ..pipeline import Pipeline
    keep_freed_memory()
    torch.set_num_threads(2)
    pipe = Pipeline(model, build_graph(model, (3, size, size)), spec, bf16=bf16)
    while True:
        req = requests.recv()
        while req is not None and requests.poll():        # latest wins
            req = requests.recv()
        if req is None:
            return
        results.send(pipe.compute(req))


class ProcessWorker:
    """The Worker's interface with the pipeline in a child process (spawned: a fresh interpreter)."""

    def __init__(self, model, size: int, spec, bf16: bool):
        ctx = mp.get_context("spawn")
        self._req_r, self._req_w = ctx.Pipe(duplex=False)
        self._res_r, self._res_w = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_serve, args=(self._req_r, self._res_w, model, size, spec, bf16), daemon=True)
        self._proc.start()
        self._result, self._sent, self._got, self.completed = None, 0, 0, 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while True:
            try:
                res = self._res_r.recv()
            except (EOFError, OSError):
                return
            with self._lock:
                self._result, self._got, self.completed = res, res.request.seq, self.completed + 1

    def submit(self, req) -> None:
        with self._lock:
            self._sent = req.seq
        self._req_w.send(req)

    def latest(self):
        with self._lock:
            return self._result

    def idle(self) -> bool:
        with self._lock:
            return self._got >= self._sent

    def wait_idle(self, timeout: float = 30.0) -> bool:
        t0 = time.perf_counter()
        while not self.idle():
            if time.perf_counter() - t0 > timeout:
                return False
            time.sleep(0.002)
        return True

    def shutdown(self, timeout: float = 5.0) -> bool:
        self._req_w.send(None)
        self._proc.join(timeout)
        return not self._proc.is_alive()


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
                    "process": App(screen, DemoSource(realtime=True), ProcessWorker(model, size, sp, bf16), layers,
                                   classes, label)}
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
