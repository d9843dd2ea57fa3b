"""The window's rate meters: drawing rate, model rate (results per second over the last 2 s)."""
from __future__ import annotations

from dataclasses import dataclass, field


WINDOW_S = 2.0


@dataclass
class Meters:
    """Drawing rate, model rate and the age of the shown result."""
    draw_times: list[float] = field(default_factory=list)
    model_times: list[float] = field(default_factory=list)

    @staticmethod
    def rate(times: list[float], now: float | None = None) -> float:
        """Events per second over the last WINDOW_S seconds before now (0 when fewer than two: a still frame
        that is no longer recomputed reads 0, not the rate it last had)."""
        recent = times if now is None else [t for t in times if now - t <= WINDOW_S]
        return 0.0 if len(recent) < 2 else (len(recent) - 1) / max(1e-9, recent[-1] - recent[0])

    def tick(self, times: list[float], now: float) -> None:
        times.append(now)
        while times and now - times[0] > WINDOW_S:
            times.pop(0)
