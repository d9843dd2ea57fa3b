"""Benchmarks that print tables:  python -m viewer.bench [core|live|all] [--checkpoint PATH] [--repeat N]

core: the analysis alone (forward, one unit, 192 units, Captum side by side when installed).
live: the stages of one live frame, the real app loop headless (SDL dummy driver), and the slow-model
      case (All-CNN-C on 224x224 input).
Medians over repeated runs after a warm-up, on this machine's CPU, torch's default thread count.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from .core.attribution import Analyzer, ChannelTarget
from .core.graph import build_graph
from .core.models import AllCNNC
from .core.rules import Method

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "allcnn_c_cifar10.pt"
Row = tuple[str, float, str]


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def load_allcnn(checkpoint: Path | None):
    from .core.checkpoint import load_checkpoint
    from .core.preprocess import InputSpec
    if checkpoint is not None and checkpoint.exists():
        loaded = load_checkpoint(checkpoint)
        return loaded.model, checkpoint.name, InputSpec.from_meta(loaded.meta), list(loaded.meta.get("classes", []))
    torch.manual_seed(0)
    return AllCNNC().eval(), "random weights", InputSpec(), [str(i) for i in range(10)]


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def bench_core(model, repeat: int) -> list[Row]:
    layers = build_graph(model)
    an, an16, slow = Analyzer(model, layers), Analyzer(model, layers, bf16=True), Analyzer(model, layers, fast=False)
    x = torch.rand(1, 3, 32, 32)
    fp, fp16, fps = an.forward(x), an16.forward(x), slow.forward(x)
    units = [an.resolve(fp, ChannelTarget("conv6", c)) for c in range(192)]
    rows: list[Row] = []
    with torch.no_grad():
        rows.append(("plain forward, no capture (reference)", median_ms(lambda: model(x), repeat), ""))
    rows.append(("forward, all activations captured, traced (no autograd graph)", median_ms(lambda: an.forward(x), repeat), ""))
    anb = Analyzer(model, layers, bf16_forward=True)
    fwd_b = median_ms(lambda: anb.forward(x), repeat)
    fpb = anb.forward(x)
    d_act = rel_diff(fpb.activation("conv6"), fp.activation("conv6"))
    d_img = rel_diff(anb.attribute(fpb, units[:1], Method.GUIDED).images, an.attribute(fp, units[:1], Method.GUIDED).images)
    rows.append(("forward, all activations captured, traced, bf16 autocast (--bf16)", fwd_b,
                 f"conv6 max rel diff {d_act:.1e}; a conv6 unit's guided image {d_img:.1e}"))
    one = median_ms(lambda: an.attribute(fp, units[:1], Method.GUIDED), repeat)
    one_slow = median_ms(lambda: slow.attribute(fps, units[:1], Method.GUIDED), repeat)
    rows.append(("one conv6 unit, guided backprop, given forward (cone)", one, "target <= 2 ms"))
    rows.append(("one conv6 unit, guided backprop, given forward (autograd)", one_slow, f"cone is {one_slow / one:.1f}x faster"))
    r = max(3, repeat // 5)
    allu = median_ms(lambda: an.attribute(fp, units, Method.GUIDED), r, warmup=1)
    ref = slow.attribute(fps, units, Method.GUIDED).images
    d32 = rel_diff(an.attribute(fp, units, Method.GUIDED).images, ref)
    rows.append(("all 192 conv6 units, guided backprop, batched, fp32 (cone)", allu, f"target <= 50 ms; max rel diff to autograd {d32:.1e}"))
    all16 = median_ms(lambda: an16.attribute(fp16, units, Method.GUIDED), r, warmup=1)
    d16 = rel_diff(an16.attribute(fp16, units, Method.GUIDED).images, ref)
    rows.append(("all 192 conv6 units, guided backprop, batched, bf16 (cone)", all16, f"max rel diff to fp32 {d16:.1e}"))
    allslow = median_ms(lambda: slow.attribute(fps, units, Method.GUIDED), 3, warmup=1)
    rows.append(("all 192 conv6 units, batched seeds through autograd (vmap)", allslow, f"cone fp32 is {allslow / allu:.1f}x faster"))
    rows += bench_captum(model, an, fp, units, one, allu, repeat)
    return rows


def bench_captum(model, an, fp, units, one_ms: float, all_ms: float, repeat: int) -> list[Row]:
    try:
        from captum.attr import NeuronGuidedBackprop
    except ImportError:
        return [("Captum NeuronGuidedBackprop", float("nan"), "captum not installed: pip install captum")]
    ngb = NeuronGuidedBackprop(model, model.conv6)
    x = fp.x.detach()
    u = units[0]
    cap = lambda unit: ngb.attribute(x, neuron_selector=(unit.channel, unit.y, unit.x))  # noqa: E731
    t1 = median_ms(lambda: cap(u), repeat)
    d1 = rel_diff(an.attribute(fp, [u], Method.GUIDED).images[0], cap(u)[0])
    t192 = median_ms(lambda: [cap(v) for v in units], 3, warmup=1)
    ours = an.attribute(fp, units, Method.GUIDED).images
    d192 = max(rel_diff(ours[i], cap(units[i])[0]) for i in range(0, 192, 19))
    return [("Captum NeuronGuidedBackprop, one conv6 unit (forward + backward)", t1,
             f"ours (given the frame's forward) is {t1 / one_ms:.1f}x faster; max rel diff {d1:.1e}"),
            ("Captum NeuronGuidedBackprop, 192 conv6 units (looped)", t192,
             f"ours is {t192 / all_ms:.1f}x faster; max rel diff {d192:.1e}")]


def bench_live(checkpoint: Path | None, repeat: int, frames: int) -> list[Row]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from .app import App
    from .core.preprocess import InputSpec, model_view, to_tensor
    from .render import images
    from .sources import DemoSource
    from .worker import Pipeline, Request, Worker

    model, label, spec, classes = load_allcnn(checkpoint)
    layers = build_graph(model)
    pipe = Pipeline(model, layers, spec)
    src = DemoSource()
    rows: list[Row] = []
    rows.append(("source read (demo, 256x256) + crop/resize/normalise",
                 median_ms(lambda: to_tensor(model_view(src.read(), spec), spec), repeat), ""))
    frame = src.read()
    x = to_tensor(model_view(frame, spec), spec)
    rows.append(("forward, all activations captured", median_ms(lambda: pipe.analyzer.forward(x), repeat), ""))
    fp = pipe.analyzer.forward(x)
    t = [ChannelTarget("conv6", 5)]
    rows.append(("one conv6 unit, guided backprop", median_ms(lambda: pipe.analyzer.attribute(fp, t, Method.GUIDED), repeat), ""))
    req = Request(frame, 0, "conv6", t[0], Method.GUIDED)
    res = pipe.compute(req)
    rows.append(("whole worker step (preprocess, forward, unit, to numpy)", median_ms(lambda: pipe.compute(req), repeat), ""))
    act = res.activation
    rows.append(("colormap + tile conv6 maps (192 x 8 x 8)",
                 median_ms(lambda: images.tile(images.colormap(act, float(act.max())), 14), repeat), ""))
    pygame.display.init()
    pygame.font.init()
    try:
        screen = pygame.display.set_mode((1280, 800))
        worker = Worker(pipe)
        app = App(screen, DemoSource(), worker, layers, classes, label, sync=True)
        app.update()
        off = pygame.Surface((1280, 800))

        def draw_fresh():
            app._accept(pipe.compute(req))  # a new result each time: nothing cached
            app.draw(off)
        t_comp = median_ms(lambda: pipe.compute(req), repeat)
        rows.append(("draw the full window off-screen (new result, no cache)",
                     median_ms(draw_fresh, repeat) - t_comp, ""))
        rows.append(("draw the full window off-screen (cached result)", median_ms(lambda: app.draw(off), repeat), ""))
        rows += run_app(app, frames, "all-CNN-C 32x32, sync: every frame recomputed")
        worker.shutdown()
        worker = Worker(Pipeline(model, layers, spec, bf16=True))
        app = App(screen, DemoSource(), worker, layers, classes, label, sync=True)
        rows += run_app(app, frames, "all-CNN-C 32x32, --bf16, sync: every frame recomputed")
        worker.shutdown()
        worker = Worker(pipe)
        app = App(screen, DemoSource(), worker, layers, classes, label, sync=False)
        rows += run_app(app, frames, "all-CNN-C 32x32, threaded worker, drawing uncapped")
        worker.shutdown()
        worker = Worker(pipe)
        app = App(screen, DemoSource(), worker, layers, classes, label, sync=False)
        rows += run_app(app, frames, "all-CNN-C 32x32, threaded worker, drawing capped at 60/s (default)", fps=60)
        worker.shutdown()
        # the slow model: the same network on 224x224 input (fully convolutional)
        big = InputSpec((224, 224), spec.mean, spec.std)
        big_layers = build_graph(model, (3, 224, 224))
        big_pipe = Pipeline(model, big_layers, big)
        xb = torch.rand(1, 3, 224, 224)
        def bare():
            xl = xb.clone().requires_grad_(True)
            out = model(xl)
            torch.autograd.grad(out[0, 0], xl)
        bare_ms = median_ms(bare, 5, warmup=1)
        rows.append(("224x224: bare forward + backward of the same model", bare_ms, f"{1000 / bare_ms:.1f} /s"))
        worker = Worker(big_pipe)
        app = App(screen, DemoSource(), worker, big_layers, classes, label, sync=False)
        rows += run_app(app, max(120, frames // 2), "all-CNN-C 224x224, threaded worker, drawing capped at 60/s", bare_ms, fps=60)
        worker.shutdown()
    finally:
        pygame.quit()
    return rows


def run_app(app, frames: int, title: str, bare_ms: float | None = None, fps: int = 0) -> list[Row]:
    """Drive the real loop (events, update, draw); fps caps the drawing rate as the app does (default 60)."""
    import pygame
    app.update()
    app.worker.wait_idle(30)
    start_done = app.worker.completed
    clock = pygame.time.Clock()
    t0 = time.perf_counter()
    n0 = app.frames_drawn
    while app.frames_drawn - n0 < frames:
        pygame.event.pump()
        app.update()
        app.draw()
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


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}\n")
    w = max(len(r[0]) for r in rows)
    print(f"| {'what'.ljust(w)} | median ms | note |")
    print(f"| {'-' * w} | ---: | --- |")
    for name, ms, note in rows:
        print(f"| {name.ljust(w)} | {ms:9.2f} | {note} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m viewer.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", default="all", choices=["core", "live", "all"], help="which benchmark")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--frames", type=int, default=300, help="frames drawn per app-loop measurement")
    a = p.parse_args(argv)
    model, label, _, _ = load_allcnn(a.checkpoint)
    print(f"All-CNN-C ({label}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    if a.what in ("core", "all"):
        print_table("core (32x32 input)", bench_core(model, a.repeat))
    if a.what in ("live", "all"):
        print_table("live pipeline", bench_live(a.checkpoint, a.repeat, a.frames))
    return 0


if __name__ == "__main__":
    sys.exit(main())
