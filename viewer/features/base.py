"""What an analysis is: one `Feature`, with a no-op default for every step it may take part in.

A feature owns, all in its own file (viewer/features/*.py, registered in viewer/features/__init__.py):

    keys()              its key bindings (the help overlay and the README's controls are made from them)
    initial(options)    its slice of the session state (main thread; Session.part(name))
    mode(session)       a short label while it changes what is drawn ("" when off): the status bar lists them
    request(session, grid)  its frozen request part for this frame, or None (asks nothing of the worker)
    prepare / around / step   its work in the worker step (Pipeline.compute):
                        prepare(pipe, req, part)  before anything (e.g. copy weights before another part
                                                  changes them);
                        around(pipe, job, part)   a context manager around the forward pass and the rest
                                                  (ablation zeroes channels inside it);
                        step(pipe, job, part)     after the forward and the unit: its frozen result part
    accept(session, result)  on the main thread when a result arrives (a live atlas, a display scale)
    panes()             pane objects of its own (drawn after the core panes, given the same PaneView)
    and hooks the core panes ask every feature: grid_tiles (the grid's content), slots (the unit panel's
    two reconstruction images), lines (the unit panel's text), block_marks (the strip), predictions (the
    predictions' title and "before" ticks).

Parts that cross threads are frozen dataclasses; a part's equality decides whether a request is new.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Key:
    """One binding: pygame key names (as pygame.key.key_code accepts them), Shift, what it does, and the
    handler called with the Session."""
    keys: tuple[str, ...]
    shift: bool
    help: str
    handler: Callable[[Any], None] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Slot:
    """One of the unit panel's two reconstruction images as a feature fills it: a caption, and an image
    (RGB uint8) or a one-line note in its place."""
    caption: str | tuple[str, ...]   # or its wordings from the longest to the shortest (render/draw.py)
    image: np.ndarray | None = None
    note: str = ""
    warn: bool = False


@dataclass
class Job:
    """One worker step in progress (worker thread only): what the template has computed so far, for the
    features' steps. analyzer may be replaced by an around() context (ablation by hooks)."""
    req: Any
    analyzer: Any
    bulk: Any
    x: Any = None                 # the model input tensor (1, C, H, W)
    view: np.ndarray | None = None    # the model's view of the frame, uint8 (h, w, 3)
    fp: Any = None                # the forward pass (core/attribution.ForwardPass)
    method: Any = None            # the AttributionMethod of the request
    unit: Any = None              # the resolved unit (UnitTarget), None without a target
    recon: np.ndarray | None = None   # the unit's reconstruction (3, h, w)
    nonfinite: str = ""
    context: dict = field(default_factory=dict)   # name -> what a feature's around() keeps for its step
    lap: Callable[[str], None] = lambda stage: None
    report: Callable[[str, Any], None] = lambda name, part: None   # hand over a part while it is under way
    superseded: Callable[[], bool] = lambda: False   # a newer request asks for something else: stop early


class Feature:
    name = ""          # the key of its parts in the session, the request and the result
    title = ""         # its name in the help overlay
    both_models = False   # --compare: its part goes with the second model's request too (prepare sees req.model)

    def keys(self) -> tuple[Key, ...]:
        return ()

    def initial(self, options: dict) -> Any:
        return None

    def mode(self, session) -> str:
        return ""

    def request(self, session, grid) -> Any:
        return None

    # --- worker thread ------------------------------------------------------------------------------
    def prepare(self, pipe, req, part) -> None:
        pass

    def around(self, pipe, job: Job, part):
        return nullcontext()

    def step(self, pipe, job: Job, part) -> Any:
        return None

    # --- main thread --------------------------------------------------------------------------------
    def accept(self, session, result) -> None:
        pass

    def panes(self) -> tuple:
        return ()

    def drawn(self, session, surface, now: float) -> None:
        """The window has been drawn (before it is shown): e.g. a recording takes its pixels."""

    def close(self, session) -> None:
        """The window closes: finish what is open (a recording)."""

    def takes_grid(self, session) -> bool:
        """Whether one of this feature's panes is drawn in the grid's place (the grid then is not)."""
        return False

    def grid_tiles(self, v, geom) -> tuple[str, np.ndarray | None, str] | None:
        """(what the grid shows, its tiles or None, a note) where this feature takes the grid, else None."""
        return None

    def slots(self, v, r) -> dict[int, Slot]:
        """The unit panel's reconstruction images this feature fills: {0: left, 1: right}."""
        return {}

    def lines(self, v, r) -> list:
        """Lines at the top of the unit panel's text: each a str, or its wordings from the longest to the shortest."""
        return []

    def order(self, session, layer: str, result) -> list[int] | None:
        """The grid's channels in the order this feature shows them (K: by relevance), or None."""
        return None

    def tile_marks(self, session, layer: str) -> dict[int, str]:
        """channel -> a short mark drawn on its grid tile (e.g. Z: switched off)."""
        return {}

    def method_label(self, session) -> str:
        """What the unit panel's images show instead of the method, where this feature replaces them."""
        return ""

    def block_marks(self, session) -> dict[str, str]:
        """layer name -> a short mark drawn on its strip block."""
        return {}

    def predictions(self, v, r) -> tuple[str, np.ndarray] | None:
        """(title, the probabilities to tick as "before") where this feature changes the predictions."""
        return None


class Toggle(Feature):
    """A feature that is on or off (its session state is a one-field object); `off` names features whose
    view it replaces (W and F take the grid in turn)."""

    key: tuple[str, ...] = ()
    help = ""
    label = ""          # the mode's label while on
    off: tuple[str, ...] = ()

    def keys(self) -> tuple[Key, ...]:
        return (Key(self.key, False, self.help, self.toggle),)

    def initial(self, options: dict) -> Any:
        return Switch()

    def on(self, session) -> bool:
        return session.part(self.name).on

    def toggle(self, session) -> None:
        st = session.part(self.name)
        st.on = not st.on
        if st.on:
            for other in self.off:
                if hasattr(session.part(other), "on"):
                    session.part(other).on = False
        session.changed()

    def mode(self, session) -> str:
        return self.label if self.on(session) else ""


@dataclass
class Switch:
    on: bool = False
