"""The one table that binds keys to actions; the help overlay is generated from it."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.Enum):
    QUIT = "quit"
    PREV_LAYER = "previous layer"
    NEXT_LAYER = "next layer"
    PREV_UNIT = "previous unit"
    NEXT_UNIT = "next unit"
    UNIT_UP = "unit one row up"
    UNIT_DOWN = "unit one row down"
    PAGE_UP = "previous page of feature maps"
    PAGE_DOWN = "next page of feature maps"
    CYCLE_METHOD = "cycle guided backprop / deconvnet / gradient"
    GRADCAM = "Grad-CAM and guided Grad-CAM for the top class"
    CLASS_TARGET = "target the top class logit (toggle)"
    STRONGEST = "target the channel's strongest position again"
    LOCK_SCALE = "lock / unlock the display scales (maps and reconstruction)"
    FILTERS = "filters view: the layer's weights (toggle)"
    WHOLE_LAYER = "whole-layer view: every unit's reconstruction, live (toggle)"
    COLORMAP = "viridis / grey feature maps"
    PAUSE = "pause (the analysis keeps working on the frozen frame)"
    NEXT_IMAGE = "next image (folder source)"
    PREV_IMAGE = "previous image (folder source)"
    SAVE = "save a screenshot PNG + JSON"
    HELP = "this help"
    RESET_LIVE_ATLAS = "reset the live atlas"
    ABLATE = "ablate the selected channel (toggle; several allowed)"
    CLEAR_ABLATION = "clear every ablation"
    RANDOMIZE = "sanity check: the map in a copy randomized down to here"
    RF_ZOOM = "zoom to the unit's receptive field (toggle)"
    ATLAS = "unit atlas: the unit's top patches (--atlas file, else live)"
    SWAP_MODELS = "--compare: swap which model is in front"


@dataclass(frozen=True)
class Binding:
    keys: tuple[str, ...]      # pygame key names, as pygame.key.key_code() accepts them
    shift: bool                # needs Shift held
    action: Action


BINDINGS: tuple[Binding, ...] = (
    Binding(("q", "escape"), False, Action.QUIT),
    Binding(("left",), False, Action.PREV_LAYER),
    Binding(("right",), False, Action.NEXT_LAYER),
    Binding(("up",), False, Action.PREV_UNIT),
    Binding(("down",), False, Action.NEXT_UNIT),
    Binding(("left",), True, Action.PREV_UNIT),
    Binding(("right",), True, Action.NEXT_UNIT),
    Binding(("up",), True, Action.UNIT_UP),
    Binding(("down",), True, Action.UNIT_DOWN),
    Binding(("page up",), False, Action.PAGE_UP),
    Binding(("page down",), False, Action.PAGE_DOWN),
    Binding(("b",), False, Action.CYCLE_METHOD),
    Binding(("g",), False, Action.GRADCAM),
    Binding(("c",), False, Action.CLASS_TARGET),
    Binding(("r",), False, Action.STRONGEST),
    Binding(("l",), False, Action.LOCK_SCALE),
    Binding(("f",), False, Action.FILTERS),
    Binding(("w",), False, Action.WHOLE_LAYER),
    Binding(("m",), False, Action.COLORMAP),
    Binding(("space",), False, Action.PAUSE),
    Binding(("n",), False, Action.NEXT_IMAGE),
    Binding(("p",), False, Action.PREV_IMAGE),
    Binding(("s",), False, Action.SAVE),
    Binding(("h", "f1"), False, Action.HELP),
    Binding(("a",), False, Action.ATLAS),
    Binding(("a",), True, Action.RESET_LIVE_ATLAS),
    Binding(("v",), False, Action.RF_ZOOM),
    Binding(("x",), False, Action.RANDOMIZE),
    Binding(("z",), False, Action.ABLATE),
    Binding(("z",), True, Action.CLEAR_ABLATION),
    Binding(("tab",), False, Action.SWAP_MODELS),
)

MOUSE_HELP = (
    ("click a block", "select that layer"),
    ("click a tile", "select that unit (channel)"),
    ("click unit map", "target that position of the channel"),
    ("click an atlas patch", "open its image, paused, at that unit"),
    ("click 2nd strip row", "--compare: select the paired layer"),
)


def help_lines() -> list[tuple[str, str]]:
    """(keys, description) rows, one per action, in table order."""
    rows: dict[Action, list[str]] = {}
    for b in BINDINGS:
        rows.setdefault(b.action, []).extend(("Shift+" if b.shift else "") + k.title() for k in b.keys)
    return [(" / ".join(ks), a.value) for a, ks in rows.items()] + list(MOUSE_HELP)
