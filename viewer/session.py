"""What the user has selected and switched on, without a window: the models (sides), the layer, the unit, the
target, the method, the display scales, each feature's slice of the state, the latest result and the
notices. The App turns events into calls here and draws what it holds; tests drive it alone."""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .core.attribution import ChannelTarget, ClassTarget, UnitTarget
from .core.graph import LayerInfo, default_layer
from .core import methods
from .core.methods import GUIDED, AttributionMethod
from .core.pairing import pair_layers
from .features import active
from .notices import NOTICE_S, Level, Notice
from .render.images import SmoothScale, layer_scale, robust_scale
from .requests import Request, Result



class TargetMode(enum.Enum):
    STRONGEST = "strongest position"
    POSITION = "clicked position"
    CLASS = "top class logit"


@dataclass(frozen=True)
class Side:
    """One model of the window: its layers, class names and name (two of them with --compare)."""
    layers: list[LayerInfo]
    classes: list[str]
    name: str
    tag: str = "B"     # A: --model, B: --compare (the letter stays with the model when Tab swaps them)
    accuracy: float | None = None   # its measured test accuracy (from the checkpoint's metadata), where known


class Scales:
    """The display scales, smoothed over frames (L locks them all): the front model's feature maps and
    reconstruction, and the compared model's."""

    def __init__(self):
        self.act, self.recon, self.other_act, self.other_recon = (SmoothScale() for _ in range(4))
        self.locked_on = ""       # the layer and channel the scales were locked on (L)

    def all(self) -> tuple[SmoothScale, ...]:
        return self.act, self.recon, self.other_act, self.other_recon

    @property
    def locked(self) -> bool:
        return self.act.locked


class Session:
    def __init__(self, sides: list[Side], start_layer: str | None = None, method: AttributionMethod = GUIDED,
                 pick_unit: bool = True, **options: Any):
        """pick_unit: on the first result of each layer the user opens, select its most active channel (a live
        unit, not channel 0, which may be dead on this input) until the user picks one; options: what the
        features' initial states read (atlas=, live_atlas=)."""
        self.sides, self.front = sides, 0
        names = [l.name for l in self.layers]
        self.layer = names.index(start_layer) if start_layer in names else default_layer(self.layers)
        self.channel, self.page, self.position = 0, 0, None
        self.target_mode, self.method = TargetMode.STRONGEST, method
        self.paused = self.help = False
        self.running = True
        self.colormap = "viridis"
        self.per_tile = False     # M: each feature map stretched to its own maximum
        self.scales = Scales()
        self.parts = {f.name: f.initial(options) for f in active()}
        self.result: Result | None = None
        self.notice: Notice | None = None
        self.opened: tuple | None = None   # (frame, index, its name): a frame to show (an atlas patch's image), once
        self.version = 0    # counts view changes: the panes that follow the result redraw on a new value
        self.pick_unit = self.picking = pick_unit   # picking: the next result of this layer picks its channel
        self.per_page = 0   # tiles the grid shows at once (the App's layout says, with each request)

    # --- the models -------------------------------------------------------------------------------------
    @property
    def side(self) -> Side:
        return self.sides[self.front]

    @property
    def layers(self) -> list[LayerInfo]:
        return self.side.layers

    @property
    def classes(self) -> list[str]:
        return self.side.classes

    @property
    def model_name(self) -> str:
        return self.side.name

    @property
    def info(self) -> LayerInfo:
        """The selected layer."""
        return self.layers[self.layer]

    @property
    def other(self) -> Side | None:
        """The compared model not in front, or None without --compare."""
        return self.sides[1 - self.front] if len(self.sides) == 2 else None

    @property
    def pairing(self) -> dict:
        return pair_layers(self.layers, self.other.layers) if self.other is not None else {}

    def other_layer(self) -> LayerInfo | None:
        """The compared model's layer paired with the selected one (None: unpaired, or no --compare)."""
        name = self.pairing.get(self.info.name) if self.other is not None else None
        return next((l for l in self.other.layers if l.name == name), None) if name else None

    def class_of(self, layer: LayerInfo, channel: int) -> str:
        """The class a channel stands for where the layer's channels are the classes (as many channels as classes,
        here and in every later layer: All-CNN-C's conv9 and its pool), else ""."""
        n = len(self.classes)
        k = next((i for i, l in enumerate(self.layers) if l.name == layer.name), None)
        if k is None or not 0 <= channel < n or any(l.channels != n for l in self.layers[k:]):
            return ""
        return self.classes[channel]

    def unit_name(self, layer: LayerInfo, channel: int) -> str:
        """"channel 3", or "channel 3 (cat)" where the channel is a class."""
        cls = self.class_of(layer, channel)
        return f"channel {channel} ({cls})" if cls else f"channel {channel}"

    def part(self, name: str) -> Any:
        return self.parts.get(name)

    # --- selection ---------------------------------------------------------------------------------------
    def changed(self) -> None:
        self.version += 1

    def select_layer(self, index: int) -> None:
        index = max(0, min(len(self.layers) - 1, index))
        if index != self.layer:
            self.layer, self.page, self.position = index, 0, None
            self.picking = self.pick_unit
            self.channel = min(self.channel, self.info.channels - 1)
            if self.target_mode is TargetMode.POSITION:
                self.target_mode = TargetMode.STRONGEST
            self.scales.act.reset()
            self.scales.recon.reset()
        self.changed()

    def select_channel(self, channel: int, per_page: int, tile: int | None = None) -> None:
        """per_page: tiles the grid shows at once (its page follows the channel); tile: the channel's place in
        the grid where a feature orders the tiles (K), else its index."""
        channel = max(0, min(self.info.channels - 1, channel))
        self.picking = False            # the user chose: no automatic pick any more on this layer
        if self.target_mode is not TargetMode.STRONGEST:   # a class target or a pinned position: released
            self.target_mode, self.position = TargetMode.STRONGEST, None
        if channel != self.channel:
            self.channel = channel
            self.scales.recon.reset()
        self.page = (channel if tile is None else tile) // per_page if per_page < self.info.channels else 0
        self.changed()

    def turn_page(self, step: int, per_page: int) -> None:
        pages = -(-self.info.channels // max(1, per_page))
        self.page = max(0, min(pages - 1, self.page + step))
        self.changed()

    def pick_strongest(self, activation: np.ndarray) -> None:
        """Select the channel with the largest activation anywhere in the map (once per layer)."""
        self.picking = False
        if activation.size == 0 or self.target_mode is not TargetMode.STRONGEST:
            return
        c = int(activation.reshape(activation.shape[0], -1).max(1).argmax())
        if c != self.channel:
            self.channel = c
            self.page = c // self.per_page if 0 < self.per_page < self.info.channels else 0
            self.scales.recon.reset()
            self.changed()

    def release_pin(self) -> None:
        """A pinned position is let go when what it pinned is gone (another frame from the source)."""
        if self.target_mode is TargetMode.POSITION:
            self.target_mode, self.position = TargetMode.STRONGEST, None
            self.changed()

    def pick_position(self, y: int, x: int) -> None:
        self.position, self.target_mode = (y, x), TargetMode.POSITION
        self.changed()

    def strongest(self) -> None:
        self.target_mode, self.position = TargetMode.STRONGEST, None
        self.changed()

    def cycle_method(self) -> None:
        registered = methods.METHODS    # read now: a method registered later is in it
        self.method = registered[(registered.index(self.method) + 1) % len(registered)] \
            if self.method in registered else registered[0]
        self.scales.recon.reset()
        self.changed()

    def cycle_colours(self) -> None:
        """M: viridis on the layer's scale -> viridis, each tile its own scale -> grey on the layer's scale."""
        self.colormap, self.per_tile = {("viridis", False): ("viridis", True), ("viridis", True): ("grey", False)}.get(
            (self.colormap, self.per_tile), ("viridis", False))
        self.changed()

    def lock_scales(self) -> None:
        locked = not self.scales.locked
        for scale in self.scales.all():
            scale.locked = locked
        self.scales.locked_on = f"{self.info.name} channel {self.channel}" if locked else ""
        self.changed()

    def swap(self) -> bool:
        """--compare: the compared model comes to the front, at the layer paired with the selected one."""
        if self.other is None:
            return False
        partner = self.pairing.get(self.info.name)
        self.front = 1 - self.front
        names = [l.name for l in self.layers]
        self.layer = names.index(partner) if partner in names else default_layer(self.layers)
        self.page, self.position = 0, None
        self.channel = min(self.channel, self.info.channels - 1)
        if self.target_mode is TargetMode.POSITION:
            self.target_mode = TargetMode.STRONGEST
        for scale in self.scales.all():
            scale.reset()
        self.result = None
        self.changed()
        return True

    def open_frame(self, frame: np.ndarray, index: int, y: int, x: int, what: str) -> None:
        """Show this image (an atlas patch's), paused, with the selected channel targeted at (y, x)."""
        self.opened, self.paused = (frame.copy(), index, what), True
        self.pick_position(y, x)
        self.scales.recon.reset()
        self.notify(f"{what}, {self.info.name} channel {self.channel} at ({y}, {x}): paused (Space resumes)")

    # --- what to compute --------------------------------------------------------------------------------
    def target(self):
        if self.target_mode is TargetMode.CLASS:
            r = self.result
            return ClassTarget(int(r.probs.argmax()) if r is not None and r.probs.size > 1 else 0)
        if self.target_mode is TargetMode.POSITION and self.position is not None:
            return UnitTarget(self.info.name, self.channel, *self.position)
        return ChannelTarget(self.info.name, self.channel)

    def request(self, frame: np.ndarray, frame_index: int, frame_no: int, seq: int, grid) -> Request:
        """The core request of the front model and every feature's part (grid: the page on screen)."""
        self.per_page = grid.rows * grid.cols
        parts = {f.name: p for f in active() if (p := f.request(self, grid)) is not None}
        return Request(frame, frame_index, self.info.name, self.target(), self.method, seq, self.front, frame_no,
                       parts)

    def accept(self, res: Result) -> None:
        """A new result: kept, its scales followed, handed to every feature (the live atlas...)."""
        if res.failed:  # the model itself failed on this frame: say so, keep the last result
            self.notify(f"model error: {res.error}", Level.ERROR)
            return
        if self.notice is not None and self.notice.level is Level.ERROR:
            self.notice = None
        self.result = res
        if self.picking and res.request.layer == self.info.name and res.request.model == self.front:
            self.pick_strongest(res.activation)
        if res.request.layer == self.info.name:
            self.scales.act.update(layer_scale(res.activation))
        if res.recon is not None:
            from .features.zoom import shown
            self.scales.recon.update(robust_scale(shown(self, res.recon, res.unit)))
        for f in active():
            f.accept(self, res)
        self.changed()

    # --- what is shown ----------------------------------------------------------------------------------
    def notify(self, text: str, level: Level = Level.INFO) -> None:
        self.notice = Notice(text, level, time.perf_counter())

    def current_notice(self, now: float) -> Notice | None:
        n = self.notice
        return n if n is not None and (n.level is Level.ERROR or now - n.t < NOTICE_S) else None

    def modes(self) -> list[str]:
        """Everything switched on that changes what is drawn, in a few words each (the status bar)."""
        out = [label for f in active() if (label := f.mode(self))]
        if self.target_mode is TargetMode.POSITION and self.position is not None:
            out.append(f"pinned at ({self.position[0]}, {self.position[1]}): R releases")
        if self.scales.locked:
            out.append(f"scales locked (maps 0..{self.scales.act.value:.2g}, reconstruction "
                       f"{self.scales.recon.value:.2g}): L")
        if self.per_tile:
            out.append("each tile its own scale: M")
        if self.paused:
            out.append("PAUSED: Space")
        return out
