"""The live table: one frame's profile, the real app loop, and 224x224 input (python -m viewer.bench live)."""
from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from ..core.attribution import ChannelTarget
from ..core.graph import build_graph
from ..core.precision import Precision, choose_precision
from ..core.rules import Method
from .common import Row, interleaved_ms, load_allcnn, median_ms
from .core import forward_gflop


def frame_profile(app, pipe, src, frames: int) -> list[Row]:
    """Where the milliseconds of one live frame go when every frame gets a fresh result (the sync loop):
    source, the worker's stages (Result.stages), then each pane drawn with the new result."""
    import pygame

    from ..worker import Request
    off = pygame.Surface(app.screen.get_size())
    laps: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []
    for i in range(frames + 5):
        t0 = time.perf_counter()
        frame = src.read()
        t1 = time.perf_counter()
        res = pipe.compute(Request(frame, i, "conv6", ChannelTarget("conv6", 5), Method.GUIDED))
        t2 = time.perf_counter()
        app.session.accept(res)
        panes: list = []
        app.draw(off, laps=panes)
        t3 = time.perf_counter()
        if i < 5:  # warm-up
            continue
        stages = [("source read (demo frame)", (t1 - t0) * 1000), *res.stages,
                  ("worker, rest", (t2 - t1) * 1000 - sum(ms for _, ms in res.stages)),
                  *[("draw: " + name, ms) for name, ms in panes],
                  ("draw, rest (fill, blits)", (t3 - t2) * 1000 - sum(ms for _, ms in panes)),
                  ("whole frame", (t3 - t0) * 1000)]
        for name, ms in stages:
            if name not in laps:
                order.append(name)
            laps[name].append(ms)
    total = statistics.median(laps["whole frame"])
    return [(name, statistics.median(laps[name]),
             f"{1000 / total:.0f} frames/s" if name == "whole frame" else
             f"{statistics.median(laps[name]) / total:.0%}") for name in order]


def run_app(app, frames: int, title: str, bare_ms: float | None = None, fps: int = 0) -> list[Row]:
    """Drive the real loop (events, update, draw, flip); fps caps the drawing rate as the app does (60)."""
    import pygame
    app.update()
    app.worker.wait_idle(30)
    start_done = app.worker.completed
    clock = pygame.time.Clock()
    t0 = time.perf_counter()
    n0 = app.frames_drawn
    while app.frames_drawn - n0 < frames:
        app.dirty = app.dirty or app.sync     # the sync loop draws every frame it computes
        app.step(fps)                         # the real loop's turn: events, update, draw when due
        if fps:
            clock.tick(fps)
    dt = time.perf_counter() - t0
    draw_fps = (app.frames_drawn - n0) / dt
    if app.sync:
        return [(f"app loop, {title}: frames/s", 1000 / draw_fps, f"{draw_fps:.0f} frames/s with a fresh result each")]
    model_fps = (app.worker.completed - start_done) / dt
    note = f"draw {draw_fps:.0f} frames/s, model {model_fps:.1f} results/s"
    if bare_ms:
        note += f" ({model_fps * bare_ms / 1000:.0%} of the bare forward + backward rate)"
    return [(f"app loop, {title}", 1000 / draw_fps, note)]


def app_share(app, pipe, frames: int, rounds: int, title: str, fps: int = 60) -> list[Row]:
    """The threaded app's results/s against the same worker step alone (each on a fresh demo frame, the request
    the app makes), in alternating rounds so that the machine's drift moves both alike; the ratio is what the
    window gets of what the engine can do."""
    from ..sources import DemoSource
    src, in_app, alone = DemoSource(), [], []
    for r in range(rounds):
        app.update()
        app.worker.wait_idle(30)
        n0, t0 = app.worker.completed, time.perf_counter()
        run_app(app, frames, title, fps=fps)
        in_app.append((app.worker.completed - n0) / (time.perf_counter() - t0))
        app.worker.wait_idle(30)
        req = app.session.request(src.read(), 0, 0.0, 10**6, app.grid_geom())
        steps = max(3, int(in_app[-1] * 2))     # about two seconds
        pipe.compute(req)
        t = time.perf_counter()
        for i in range(steps):
            pipe.compute(dataclasses.replace(req, frame=src.read()))
        alone.append(steps / (time.perf_counter() - t))
    a, b = statistics.median(in_app), statistics.median(alone)
    return [(f"{title}: worker step alone, fresh frames ({rounds} rounds)", 1000 / b, f"{b:.1f} results/s"),
            (f"{title}: threaded app, drawing capped at {fps}/s, interleaved with the row above", 1000 / a,
             f"{a:.1f} results/s: {a / b:.0%} of the worker alone (target >= 85%)")]


def bench_live(checkpoint: Path | None, repeat: int, frames: int) -> tuple[list[Row], list[Row]]:
    """(profile of one frame, app loop and 224x224 rows)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from ..app import App
    from ..features.ablation import Ablate
    from ..features.sanity import Randomize
    from ..features.whole_layer import Units
    from ..core.preprocess import InputSpec
    from ..sources import DemoSource
    from ..worker import Pipeline, Request, Worker

    model, label, spec, classes = load_allcnn(checkpoint)
    layers = build_graph(model)
    choice = choose_precision(Precision.AUTO)
    rows: list[Row] = []
    pygame.display.init()
    pygame.font.init()
    try:
        screen = pygame.display.set_mode((1280, 800))
        pipe = Pipeline(model, layers, spec, bf16=choice.bf16)

        def app_with(pipeline, sync: bool, lay=layers, live: bool = True):
            # the threaded app reads the demo in real time (30 new frames a second), as the window does; the sync
            # loop takes a new frame every turn
            return App(screen, DemoSource(realtime=not sync), Worker(pipeline), lay, classes, label, sync=sync,
                       live_atlas=live)
        app = app_with(pipe, True)
        profile = frame_profile(app, pipe, DemoSource(), max(30, repeat))
        rows += run_app(app, frames, f"All-CNN-C 32x32, {choice.label}, sync: every frame recomputed")
        app.worker.shutdown()
        for title, fps in (("threaded worker, drawing uncapped", 0), ("threaded worker, drawing capped at 60/s (default)", 60)):
            app = app_with(pipe, False)
            rows += run_app(app, frames, f"All-CNN-C 32x32, {choice.label}, {title}", fps=fps)
            app.worker.shutdown()
        # the live atlas costs a TopK merge per result: timed alone, and the same loop without it (target: 10%)
        from ..atlas.live import LiveAtlas
        live, act, view = LiveAtlas(), np.random.rand(192, 8, 8).astype(np.float32), DemoSource().read()
        counter = iter(range(1, 10**9))
        t_live = median_ms(lambda: live.update("conv6", act, next(counter), view), max(repeat, 50))
        step = median_ms(lambda: pipe.compute(Request(DemoSource().read(), 0, "conv6", ChannelTarget("conv6", 5),
                                                      Method.GUIDED)), max(5, repeat // 3))
        f = DemoSource().read()
        base = Request(f, 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED)
        x_req = dataclasses.replace(base, parts={"sanity": Randomize("conv6")})
        z_req = dataclasses.replace(base, parts={"ablation": Ablate((("conv6", 3),))})
        pipe.compute(x_req)          # the copy is made once, first
        t = interleaved_ms({"plain": lambda: pipe.compute(base), "x": lambda: pipe.compute(x_req),
                            "z": lambda: pipe.compute(z_req)},
                           max(10, repeat // 2))
        rows.append(("worker step, one conv6 unit, guided (reference for X and Z)", t["plain"],
                     f"{1000 / t['plain']:.0f} results/s"))
        rows.append(("... with X: the same unit in the randomized copy, Spearman and SSIM", t["x"],
                     f"{1000 / t['x']:.0f} results/s, +{t['x'] - t['plain']:.1f} ms (target: >= 30 results/s)"))
        rows.append(("... with Z: one conv6 channel ablated (its pass, replayed, + the intact model's forward)", t["z"],
                     f"{1000 / t['z']:.0f} results/s, +{t['z'] - t['plain']:.1f} ms"))
        rows.append(("live atlas: one result added (conv6, 192 channels, top 9)", t_live,
                     f"{100 * t_live / step:.2f}% of a worker step ({step:.1f} ms) on the UI thread"))
        app = app_with(pipe, False, live=False)
        rows += run_app(app, frames, f"All-CNN-C 32x32, {choice.label}, threaded, capped at 60/s, live atlas off", fps=60)
        app.worker.shutdown()
        # the whole-layer view (W): every conv6 unit's reconstruction on every result
        app = app_with(pipe, False)
        app.session.part("whole_layer").on = True
        geom = app.grid_geom()
        whole = Request(DemoSource().read(), 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED,
                        parts={"whole_layer": Units(geom.first, geom.count)})
        step = median_ms(lambda: pipe.compute(whole), max(3, repeat // 5), warmup=1)
        rows.append((f"worker step, whole-layer view (W): {geom.count} conv6 units + one unit, {choice.label}", step,
                     f"{1000 / step:.1f} results/s"))
        rows += app_share(app, pipe, max(120, frames // 2), 3, f"All-CNN-C 32x32, whole-layer view (W), {choice.label}")
        app.worker.shutdown()
        # the webcam-scale case: the same network on 224x224 input (fully convolutional)
        big = InputSpec((224, 224), spec.mean, spec.std)
        big_layers = build_graph(model, (3, 224, 224))
        big_pipe = Pipeline(model, big_layers, big, bf16=choice.bf16)
        xb = torch.rand(1, 3, 224, 224)
        gf = forward_gflop(model, xb)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=choice.bf16):
            fwd = median_ms(lambda: model(xb), 5, warmup=1)
        rows.append((f"224x224: plain forward, {choice.label}", fwd, f"{gf:.1f} GFLOP, {gf / fwd * 1000:.0f} GFLOP/s, "
                     f"so at most {1000 / fwd:.1f} results/s at this rate"))

        def bare():
            xl = xb.clone().requires_grad_(True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=choice.bf16):
                out = model(xl)
            torch.autograd.grad(out[0, 0], xl)
        bare_ms = median_ms(bare, 5, warmup=1)
        rows.append(("224x224: bare forward + backward of the same model", bare_ms, f"{1000 / bare_ms:.1f} /s"))
        req = Request(DemoSource().read(), 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED)
        step = median_ms(lambda: big_pipe.compute(req), 5, warmup=2)
        res = big_pipe.compute(req)
        parts = ", ".join(f"{n} {ms:.0f}" for n, ms in res.stages)
        rows.append(("224x224: worker step, one conv6 unit's guided backprop", step,
                     f"{1000 / step:.1f} results/s (target >= 10/s with bf16); ms: {parts}"))
        app = app_with(big_pipe, False, big_layers)
        rows += app_share(app, big_pipe, max(120, frames // 2), 3, "All-CNN-C 224x224, one conv6 unit")
        app.worker.shutdown()
    finally:
        pygame.quit()
    return profile, rows
