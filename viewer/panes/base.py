"""What every pane shares: the view it is given (a snapshot of what it may read) and its own cache."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.graph import LayerInfo
from ..render.layout import GridGeometry, Layout
from ..requests import Result


@dataclass(frozen=True)
class PaneView:
    """Everything a pane may read, made by the App for each drawn frame. Panes never see the App; they read
    the Session (what is selected and switched on) and never write it while drawing."""
    layout: Layout
    session: object              # viewer/session.Session
    grid: GridGeometry           # the feature-map grid of the selected layer's current page
    result: Result | None        # the latest result
    result_is_current: bool      # it was computed from the frame on screen
    frame: np.ndarray | None     # the frame on screen
    source_name: str
    source_message: str
    device: str
    save_dir: Path
    draw_fps: float
    model_fps: float
    now: float
    zoom: bool = False           # show the receptive-field box enlarged (V; by default when small)

    @property
    def layer(self) -> LayerInfo:
        return self.session.info

    @property
    def model_tag(self) -> str:
        """--compare: the front model's letter (A: --model, B: --compare); "" with one model."""
        return self.session.side.tag if self.session.other is not None else ""


class Pane:
    """One part of the window. draw() is given a PaneView; the pane keeps what it turned into pixels in
    self.cache. forget() drops it: the App calls it on every new result and view change for the panes that
    follow the result (follows_result), so a cache never outlives what it shows. click() takes a click on
    the pane's own rectangle and says whether it did."""

    name = "pane"                # also its row in the benchmark's frame profile
    follows_result = True

    def __init__(self):
        self.cache: dict = {}

    def forget(self) -> None:
        self.cache.clear()

    def made(self, key, make):
        """self.cache[key], made by make() the first time it is asked for (until the cache is dropped)."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def draw(self, surface, v: PaneView) -> None:
        raise NotImplementedError

    def click(self, pos: tuple[int, int], session, v: PaneView) -> bool:
        return False

    def frame_rects(self, surface, v: PaneView) -> list:
        """Only the frame on screen changed: redraw what shows the frame itself and return its rectangles (the
        window updates those alone); [] for a pane that does not show the frame."""
        return []

    def about(self, v: PaneView) -> list[tuple[tuple[int, int, int, int], str]]:
        """(rectangle, one sentence on what it shows and how to read it) for each of the pane's images: the
        sentence is shown while the mouse is on the image's title line (CNN Explainer's habit)."""
        return []

    def hover(self, pos: tuple[int, int], v: PaneView) -> str:
        """What is under the mouse inside the pane (a tile's channel and value), or ""."""
        return ""

    def tooltip(self, pos: tuple[int, int], v: PaneView) -> str:
        """The pane's sentence where pos is on a title line, else what hover() says."""
        for (x, y, w, h), sentence in self.about(v):
            if w > 0 and x <= pos[0] < x + w and y - 18 <= pos[1] < y:
                return sentence
        return self.hover(pos, v)
