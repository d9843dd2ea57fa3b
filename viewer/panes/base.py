"""What every pane shares: the view it is given (a snapshot of what it may read) and its own cache."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.graph import LayerInfo
from ..render.layout import GridGeometry, Layout
from ..state import ViewState
from ..worker import Result


@dataclass(frozen=True)
class PaneView:
    """Everything a pane may read, made by the App for each drawn frame. Panes never see the App."""
    layout: Layout
    state: ViewState             # the App's view state: read, never written, by panes
    layer: LayerInfo             # the selected layer
    layers: list[LayerInfo]
    grid: GridGeometry           # the feature-map grid of the selected layer's current page
    result: Result | None        # the latest result
    result_is_current: bool      # it was computed from the frame on screen
    frame: np.ndarray | None     # the frame on screen
    source_name: str
    source_message: str
    classes: list[str]
    act_scale: Scale             # the feature maps' display scale (smoothed across frames, L locks it)
    recon_scale: Scale           # the reconstruction's
    message: str                 # the App's own message (saved screenshot, model error), or ""
    model_name: str
    device: str
    save_dir: Path
    draw_fps: float
    model_fps: float
    now: float
    compare: CompareView | None = None   # --compare: the model not in front
    model_tag: str = ""                  # --compare: the front model's letter (A: --model, B: --compare)
    atlas: object | None = None          # --atlas: the unit atlas (viewer/atlas/store.Atlas), or None
    live_atlas: object | None = None     # the live atlas (viewer/atlas/live.LiveAtlas), or None
    zoom: bool = False                   # show the receptive-field box enlarged (V; by default when small)


@dataclass(frozen=True)
class CompareView:
    """The compared model (--compare) as the panes see it: the one not in front."""
    tag: str                     # A (--model) or B (--compare), whichever is in front
    name: str
    classes: list[str]
    layers: list[LayerInfo]
    layer: LayerInfo | None      # the layer paired with the selected one (None: unpaired)
    pairing: dict                # front layer name -> this model's layer name, or None
    result: Result | None        # its result on the same frame as the front model's (Result.other)
    act_scale: Scale
    recon_scale: Scale


@dataclass(frozen=True)
class Scale:
    """A display scale as a pane sees it: the value the colours are stretched to, and whether L locked it."""
    value: float
    locked: bool



class Pane:
    """One part of the window. draw() is given a PaneView; the pane keeps what it turned into pixels in
    self.cache. forget() drops it: the App calls it on every new result and view change for the panes that
    follow the result (follows_result), so a cache never outlives what it shows."""

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
