"""ImageNet scale (python -m viewer.bench resnet [--device cuda]; needs torchvision): ResNet-18 at 224x224,
random weights. The forward with every activation captured, one unit's guided backprop, the whole-layer view
of one stage (a page of 64 units of layer3.1), all as worker steps, and the real app loop (threaded worker,
drawing capped at 60/s), against the bare forward and forward + backward of the same model (the tool's goal:
no cost beyond that, ratio >= 1.0). On a GPU every timed call ends in a synchronisation (a worker step does:
its result comes to the CPU)."""
from __future__ import annotations

import numpy as np
import torch

from ..core.attribution import ChannelTarget
from ..core.rules import Method
from .common import Row, interleaved_ms, median_ms


def bench_resnet(repeat: int, device: str = "cpu", frames: int = 150) -> list[Row]:
    try:
        from ..zoo import load_torchvision
        loaded = load_torchvision("resnet18", "none")
    except Exception as e:
        return [("ResNet-18 at 224x224", float("nan"), f"not available: {e}")]
    from ..core.graph import build_graph
    from ..core.preprocess import InputSpec
    from ..features.whole_layer import Units
    from ..worker import Pipeline, Request
    from ..core.device import choose_device
    from ..core.device import describe as describe_device
    dev = choose_device(device)
    model = loaded.model.eval()
    spec = InputSpec((224, 224), tuple(loaded.meta["mean"]), tuple(loaded.meta["std"]))
    layers = build_graph(model, (3, 224, 224))
    model = model.to(dev)
    pipe = Pipeline(model, layers, spec)
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    x = torch.rand(1, 3, 224, 224, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def bare_fwd():
        with torch.no_grad():
            model(x)
        sync()

    def bare_fb():
        xl = x.clone().requires_grad_(True)
        model(xl)[0, 1].backward()
        sync()
    fwd = Request(frame, 0, "layer3.1", None)
    one = Request(frame, 0, "layer3.1", ChannelTarget("layer3.1", 7), Method.GUIDED)
    pipe.compute(one)
    t = interleaved_ms({"bare": bare_fwd, "bare_fb": bare_fb, "fwd": lambda: pipe.compute(fwd),
                        "one": lambda: pipe.compute(one)}, max(5, repeat // 3), warmup=1)
    page = Request(frame, 0, "layer3.1", ChannelTarget("layer3.1", 7), Method.GUIDED, parts={"whole_layer": Units(0, 64)})
    whole = median_ms(lambda: pipe.compute(page), 3, warmup=1)
    cone = page_cone(model, layers, x, max(2, repeat // 10)) if dev.type == "cpu" else []
    loop = app_loop(model, layers, spec, loaded.meta["classes"], frames, t["bare_fb"])
    on = describe_device(dev)
    return [
        (f"ResNet-18 224x224 on {on}: bare forward (reference)", t["bare"], f"{1000 / t['bare']:.1f} /s"),
        ("ResNet-18 224x224: bare forward + backward (reference)", t["bare_fb"], f"{1000 / t['bare_fb']:.1f} /s"),
        ("ResNet-18: worker step, forward with every activation captured", t["fwd"],
         f"{t['fwd'] / t['bare']:.2f}x the bare forward"),
        ("ResNet-18: worker step, one layer3.1 unit's guided backprop", t["one"],
         f"{1000 / t['one']:.1f} results/s, {t['bare_fb'] / t['one']:.2f}x the bare forward + backward rate"),
        ("ResNet-18: worker step, whole-layer page: 64 layer3.1 units + one", whole, f"{1000 / whole:.2f} results/s"),
        *cone,
        *loop,
    ]


def page_cone(model, layers, x: torch.Tensor, repeat: int) -> list[Row]:
    """A page of 64 layer3.1 units given the forward: the cone through the residual additions (cone_dag.py)
    against autograd's batched backward, interleaved, and the floor: the cone's convolutions at this machine's
    convolution peak (bench.common.conv_peak)."""
    from ..core.attribution import Analyzer
    from ..core.cone_dag import DagPlan, dag_flops
    from .common import conv_peak
    fast, slow = Analyzer(model, layers), Analyzer(model, layers, fast=False)
    fpf, fps = fast.forward(x), slow.forward(x)
    targets = [ChannelTarget("layer3.1", c) for c in range(64)]
    t = interleaved_ms({"cone": lambda: fast.attribute(fpf, targets, Method.GUIDED),
                        "autograd": lambda: slow.attribute(fps, targets, Method.GUIDED)}, repeat, warmup=1)
    plan = fpf.plans["layer3.1"]
    if not isinstance(plan, DagPlan):
        return [("ResNet-18: 64 layer3.1 units, cone", float("nan"), "the cone did not run (autograd did)")]
    gflop = 64 * dag_flops(plan) / 1e9
    peak_ms, peak = conv_peak()
    floor = gflop / peak * 1000
    return [("ResNet-18: 64 layer3.1 units given the forward, autograd's batched backward", t["autograd"], ""),
            ("ResNet-18: the same 64 units, cone through the residual additions", t["cone"],
             f"{t['autograd'] / t['cone']:.2f}x faster; {gflop:.1f} GFLOP at this CPU's conv peak {peak:.0f} GFLOP/s: "
             f"floor {floor:.0f} ms ({t['cone'] / floor:.1f}x it)")]


def app_loop(model, layers, spec, classes, frames: int, bare_fb_ms: float) -> list[Row]:
    """The real window loop on the demo source at camera rate (30 frames/s, as the window opens it; SDL's
    dummy driver), the unit on layer3.1, guided."""
    import os
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from ..app import App
    from ..sources import DemoSource
    from ..worker import Pipeline, Worker
    from .live import run_app
    pygame.display.init()
    pygame.font.init()
    try:
        app = App(pygame.display.set_mode((1280, 800)), DemoSource(realtime=True), Worker(Pipeline(model, layers, spec)), layers,
                  classes, "resnet18", start_layer="layer3.1")
        try:
            return run_app(app, frames, "ResNet-18 224x224, one layer3.1 unit, guided, threaded worker, drawing "
                           "capped at 60/s", bare_fb_ms, fps=60)
        finally:
            app.worker.shutdown()
    finally:
        pygame.quit()
