"""What the window's pieces share: the view state (main thread only) and the rate meters."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .core.methods import GUIDED, AttributionMethod


class TargetMode(enum.Enum):
    STRONGEST = "strongest position"
    POSITION = "clicked position"
    CLASS = "top class logit"


@dataclass
class ViewState:
    layer: int = 0
    channel: int = 0
    position: tuple[int, int] | None = None
    target_mode: TargetMode = TargetMode.STRONGEST
    method: AttributionMethod = GUIDED
    gradcam: bool = False
    paused: bool = False
    help: bool = False
    filters: bool = False
    whole_layer: bool = False
    rf_zoom: bool | None = None   # V: show the unit's receptive-field box enlarged; None: images.zoom_default
    ablated: frozenset = frozenset()   # Z: the (layer, channel)s set to 0 in the analysis pass
    randomize: bool = False       # X: the same target in a copy randomized from the top down to this layer
    atlas_view: bool = False      # A: the unit atlas in the grid's place (with W: each unit's top patch)
    colormap: str = "viridis"
    page: int = 0
    running: bool = True


@dataclass
class Meters:
    """Drawing rate, model rate and the age of the shown result."""
    draw_times: list[float] = field(default_factory=list)
    model_times: list[float] = field(default_factory=list)

    @staticmethod
    def rate(times: list[float]) -> float:
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / max(1e-9, times[-1] - times[0])

    def tick(self, times: list[float], now: float) -> None:
        times.append(now)
        while times and now - times[0] > 2.0:
            times.pop(0)
