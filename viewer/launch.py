"""The viewer's entry point (`cnn-viewer`, `python run_viewer.py`, `python -m viewer`): parse the arguments,
build the pieces, run the window (or the headless export). The only place the app initialises pygame."""
from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path


def launch(args) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from .app import App, Side
    from .cli import UsageError, build, build_compare, load_atlas_for
    from .core.methods import method_named
    from .render.layout import MIN_WINDOW
    from .sources import SourceError, default_source, open_source
    from .worker import PairPipeline, Pipeline, Worker

    if no_display():             # before the model is built: say it at once
        raise UsageError(no_display())
    if args.record and (Path(args.record).exists() or Path(args.record).with_suffix(".jsonl").exists()):
        raise UsageError(f"--record {args.record}: the file (or its .jsonl) exists; choose another name")
    built = build(args)
    second = build_compare(args, built)
    atlas = load_atlas_for(args, built)
    try:
        w, h = (int(v) for v in args.window.lower().split("x"))
    except ValueError:
        raise UsageError(f"--window '{args.window}': write WIDTHxHEIGHT, e.g. 1280x800") from None
    try:
        source = open_source(args.source) if args.source else default_source()
    except SourceError as e:
        raise UsageError(str(e)) from None
    pygame.display.init()  # display and fonts only: no audio device is needed
    pygame.font.init()
    print(f"device: {built.device}; precision: {built.precision.reason}", flush=True)
    worker = None
    if args.worker == "auto":       # the process measured faster on the CPU; on a GPU it is not measured
        args.worker = "process" if str(built.device).startswith("cpu") else "thread"
    if args.worker == "process":     # the model in a process of its own (process_worker.py)
        from .process_worker import Part, ProcessWorker, Recipe, unpicklable
        recipe = Recipe(tuple(Part(b.model, b.layers, b.spec, b.output) for b in (built, second) if b is not None),
                        bf16=built.precision.bf16)
        why = unpicklable(recipe)
        if why:
            print(f"note: this model cannot be sent to a process of its own ({why[:120]}); it runs "
                  "in a thread instead", flush=True)
            args.worker = "thread"
        else:
            worker = ProcessWorker(recipe)
    if worker is None:
        pipeline = Pipeline(built.model, built.layers, built.spec, bf16=built.precision.bf16, output=built.output)
        if second is not None:
            pipeline = PairPipeline(pipeline, Pipeline(second.model, second.layers, second.spec,
                                                       bf16=built.precision.bf16, output=second.output))
        worker = Worker(pipeline)
    try:
        if w < MIN_WINDOW[0] or h < MIN_WINDOW[1]:
            print(f"note: --window {args.window} is below the smallest window ({MIN_WINDOW[0]}x{MIN_WINDOW[1]}, "
                  "where every caption fits): using that", flush=True)
        screen = pygame.display.set_mode((max(w, MIN_WINDOW[0]), max(h, MIN_WINDOW[1])), pygame.RESIZABLE)
        try:
            with warnings.catch_warnings():    # pygame-ce 2.5 warns that Window's surface methods will move
                warnings.simplefilter("ignore", DeprecationWarning)
                pygame.Window.from_display_module().minimum_size = MIN_WINDOW   # resizing stops there too
        except (AttributeError, pygame.error):   # pygame-ce before 2.5 has no Window: resizing is not held
            pass
        pygame.display.set_caption(f"CNN viewer - {built.name}" + (f" vs {second.name}" if second else ""))
        from .cli import recipes_differ
        why = recipes_differ(built.meta, second.meta) if second is not None else ""
        app = App(screen, source, worker, built.layers, built.classes, built.name,
                  f"{built.device}, {built.precision.short}",
                  Path(args.save_dir), start_layer=args.layer,
                  method=method_named(args.method),
                  compare=Side(second.layers, second.classes, second.name, "B", second.accuracy)
                  if second is not None else None, atlas=atlas, record=args.record, accuracy=built.accuracy,
                  recipes=why, series=built.meta.get("series"),
                  series_b=second.meta.get("series") if second is not None else None)
        app.run(max_frames=args.max_frames, fps=args.fps)
    finally:
        worker.shutdown()
        source.close()
        from .render import draw
        draw.forget_fonts()     # fonts die with pygame.quit(): a later window in this process makes new ones
        pygame.quit()
    return 0


def no_display() -> str:
    """Why a window cannot open here (Linux without X or Wayland, e.g. over SSH), or ""."""
    if sys.platform != "linux" or os.environ.get("SDL_VIDEODRIVER") not in (None, "", "x11", "wayland"):
        return ""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return ""
    return ("no display: the window needs one (set DISPLAY, e.g. ssh -X, or run under xvfb-run), or use "
            "--export OUTDIR for headless output")


def run(argv: list[str] | None = None) -> int:
    """The process's entry point (cnn-viewer, run_viewer.py, python -m viewer): main(), then, where the
    inference thread is still inside a model call when the window closed (one step of a ResNet-50 at 224 can
    take seconds), the process ends without the interpreter's teardown: tearing PyTorch down under a thread
    that is running it aborts the process ("terminate called without an active exception", exit 134)."""
    rc = main(argv)
    # "results": a process worker's thread, which may still be building its fallback pipeline when the window closed
    if any(t.name in ("inference", "results") and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


def main(argv: list[str] | None = None) -> int:
    from .cli import UsageError, parse_args

    args = parse_args(argv)
    try:
        if args.export:
            from .export import export
            return export(args)
        return launch(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
