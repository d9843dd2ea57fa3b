"""The window's own keys (moving through layers and units, the method, the frame, saving, help) in one table;
each feature brings its own (viewer/features). The help overlay and the README's controls table are both
made from these and the registry: `python -m viewer.keys` prints the table."""
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
    CYCLE_METHOD = "next reconstruction method (guided backprop, deconvnet, ...)"
    LOCK_SCALE = "lock / unlock the display scales (maps and reconstruction)"
    COLORMAP = "feature maps: one scale / each tile its own / grey"
    PAUSE = "pause (the analysis keeps working on the frozen frame)"
    NEXT_IMAGE = "next image (folder source)"
    PREV_IMAGE = "previous image (folder source)"
    SAVE = "save a screenshot PNG + JSON"
    HELP = "this help"


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
    Binding(("l",), False, Action.LOCK_SCALE),
    Binding(("m",), False, Action.COLORMAP),
    Binding(("space",), False, Action.PAUSE),
    Binding(("n",), False, Action.NEXT_IMAGE),
    Binding(("p",), False, Action.PREV_IMAGE),
    Binding(("s",), False, Action.SAVE),
    Binding(("h", "f1"), False, Action.HELP),
)

MOUSE_HELP = (
    ("point at a title", "one sentence on what that image shows"),
    ("point at a tile", "its channel, class and values (also blocks, maps)"),
    ("click a block", "select that layer"),
    ("click a tile", "select that unit (channel)"),
    ("click unit map", "target that position of the channel"),
    ("click an atlas patch", "open its image, paused, at that unit"),
    ("click 2nd strip row", "--compare: select the paired layer"),
)


def _names(keys: tuple[str, ...], shift: bool) -> list[str]:
    return [("Shift+" if shift else "") + k.title() for k in keys]


def help_lines() -> list[tuple[str, str]]:
    """(keys, description) rows: the window's actions in table order, then each feature's keys, then the mouse."""
    from .features import active
    rows: dict[str, list[str]] = {}
    for b in BINDINGS:
        rows.setdefault(b.action.value, []).extend(_names(b.keys, b.shift))
    for f in active():
        for k in f.keys():
            rows.setdefault(k.help, []).extend(_names(k.keys, k.shift))
    return [(" / ".join(ks), what) for what, ks in rows.items()] + list(MOUSE_HELP)


def controls_markdown() -> str:
    """The README's controls table, made from the same rows as the help overlay."""
    lines = ["| key | what it does |", "| --- | --- |"]
    lines += [f"| {k} | {what} |" for k, what in help_lines()]
    return "\n".join(lines)


def _unit_step(app, step: int) -> None:
    """The next / previous tile (or a row up / down): in the grid's order where a feature orders it (K)."""
    from .features import active
    s = app.session
    order = next((o for f in reversed(active()) if (o := f.order(s, s.info.name, s.result)) is not None), None)
    if order is None or s.channel not in order:
        s.select_channel(s.channel + step, app.per_page())
        return
    k = max(0, min(len(order) - 1, order.index(s.channel) + step))
    s.select_channel(order[k], app.per_page(), k)


# Action -> handler(app): the window's own keys (each feature binds its own)
ACTIONS = {
    Action.QUIT: lambda app: setattr(app.session, "running", False),
    Action.PREV_LAYER: lambda app: app.session.select_layer(app.session.layer - 1),
    Action.NEXT_LAYER: lambda app: app.session.select_layer(app.session.layer + 1),
    Action.PREV_UNIT: lambda app: _unit_step(app, -1),
    Action.NEXT_UNIT: lambda app: _unit_step(app, 1),
    Action.UNIT_UP: lambda app: _unit_step(app, -app.grid_geom().cols),
    Action.UNIT_DOWN: lambda app: _unit_step(app, app.grid_geom().cols),
    Action.PAGE_UP: lambda app: app.session.turn_page(-1, app.per_page()),
    Action.PAGE_DOWN: lambda app: app.session.turn_page(1, app.per_page()),
    Action.CYCLE_METHOD: lambda app: app.session.cycle_method(),
    Action.LOCK_SCALE: lambda app: app.session.lock_scales(),
    Action.COLORMAP: lambda app: app.session.cycle_colours(),
    Action.PAUSE: lambda app: app.pause(),
    Action.NEXT_IMAGE: lambda app: app.step_image(1),
    Action.PREV_IMAGE: lambda app: app.step_image(-1),
    Action.SAVE: lambda app: setattr(app, "save_requested", True),
    Action.HELP: lambda app: setattr(app.session, "help", not app.session.help),
}


if __name__ == "__main__":
    print(controls_markdown())
