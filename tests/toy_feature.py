"""A toy analysis written the way docs/adding_a_feature.md describes: key K shows the selected channel's mean
activation over its layer. One file, registered from outside the package with viewer.features.register()."""
from __future__ import annotations

from dataclasses import dataclass

from viewer.features import Toggle
from viewer.panes import Pane
from viewer.render import draw


@dataclass(frozen=True)
class Ask:                 # the request part: which channel (frozen: it crosses to the worker thread)
    layer: str
    channel: int


@dataclass(frozen=True)
class Mean:                # the result part
    channel: int
    value: float


class MeanActivation(Toggle):
    name, title = "mean_activation", "mean activation (toy)"
    key, help, label = ("k",), "toy: the selected channel's mean activation over the layer", "K mean"

    def request(self, session, grid):
        return Ask(session.info.name, session.channel) if self.on(session) else None

    def step(self, pipe, job, part: Ask) -> Mean:   # worker thread: after the forward pass
        return Mean(part.channel, float(job.fp.activation(part.layer)[part.channel].mean()))

    def panes(self):
        return (MeanPane(),)


class MeanPane(Pane):
    name = "mean activation (toy)"

    def __init__(self):
        super().__init__()
        self.drawn: list[str] = []      # what it drew, for the test

    def draw(self, surface, v) -> None:
        part = v.result.part("mean_activation") if v.result is not None else None
        if part is None:
            return
        x, y, w, h = v.layout.unit_text
        text = f"channel {part.channel} mean activation {part.value:.4g}"
        draw.text(surface, text, (x, y + h - 20), 17, draw.ACCENT, max_width=w)
        self.drawn.append(text)
