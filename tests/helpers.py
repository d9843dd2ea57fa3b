"""Helpers the test modules share (a request with the features' parts by their old names, a window)."""
from __future__ import annotations

from contextlib import contextmanager

from viewer.core.methods import GUIDED
from viewer.features.ablation import Ablate
from viewer.features.class_maps import Ask as ClassMapsAsk
from viewer.features.class_target import Ask as SecondClassAsk
from viewer.features.filters import Ask as FiltersAsk
from viewer.features.sanity import Randomize
from viewer.features.whole_layer import Units
from viewer.requests import Request


def ask(frame, index, layer, target, method=GUIDED, *, gradcam=False, layer_units=None, weights=False,
        randomize=None, ablate=(), second_class=False, **kw) -> Request:
    """A Request with the parts the window's features would add for these switches."""
    parts = {}
    if gradcam:
        parts["class_maps"] = ClassMapsAsk(layer)
    if layer_units is not None:
        parts["whole_layer"] = Units(*layer_units)
    if weights:
        parts["filters"] = FiltersAsk(layer)
    if randomize is not None:
        parts["sanity"] = Randomize(randomize)
    if ablate:
        parts["ablation"] = Ablate(tuple(sorted(ablate)))
    if second_class:
        parts["class_target"] = SecondClassAsk()
    return Request(frame, index, layer, target, method, parts=parts, **kw)


@contextmanager
def window(pygame_display, built, size: int = 32, name: str = "m", **kw):
    """A sync App at 1280x800 on a model built by cli.build, reading a size x size demo source; its worker is
    shut down afterwards. kw: App's other arguments (start_layer, device)."""
    from viewer.app import App
    from viewer.sources import DemoSource
    from viewer.worker import Pipeline, Worker
    worker = Worker(Pipeline(built.model, built.layers, built.spec))
    app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=size), worker, built.layers,
              built.classes, name, sync=True, **{"pick_unit": False, **kw})
    try:
        yield app
    finally:
        worker.shutdown(1.0)


def click(app, pos):
    import pygame
    app.handle_event(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=pos))
    app.update()
    app.draw()


def key(app, name, shift=False):
    import pygame
    mod = pygame.KMOD_SHIFT if shift else 0
    app.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.key.key_code(name), mod=mod))
    app.update()
    app.draw()


def centre(rect):
    return rect[0] + rect[2] // 2, rect[1] + rect[3] // 2


def measure_text(monkeypatch) -> tuple[list[str], list[str]]:
    """Record every line draw.text draws (drawn) and those it would have to cut with an ellipsis (cut)."""
    from viewer.render import draw
    drawn, cut = [], []
    real_text = draw.text

    def measuring(surface, s, pos, size=18, colour=draw.TEXT, max_width=None):
        s = draw.fitting(s, size, max_width)     # the wording a window of this size gets
        drawn.append(s)
        if max_width is not None and draw.font(size).size(s)[0] > max_width:
            cut.append(s)
        return real_text(surface, s, pos, size, colour, max_width)
    monkeypatch.setattr(draw, "text", measuring)
    return drawn, cut


def write_video(path, n=12, size=(48, 40)):
    """An MJPG .avi of n grey frames getting brighter (then wrapping)."""
    import cv2
    import numpy as np
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, size)
    assert out.isOpened()
    for i in range(n):
        out.write(np.full((size[1], size[0], 3), (i * 20) % 250, np.uint8))
    out.release()
    return path
