"""The window's rate meters: drawing rate, model rate (results per second over the last 2 s)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Meters:
    """Drawing rate, model rate and the age of the shown result."""
    draw_times: list[float] = field(default_factory=list)
    model_times: list[float] = field(default_factory=list)

    @staticmethod
    def rate(times: list[float]) -> float:
        return 0.0 if len(times) < 2 else (len(times) - 1) / max(1e-9, times[-1] - times[0])

    def tick(self, times: list[float], now: float) -> None:
        times.append(now)
        while times and now - times[0] > 2.0:
            times.pop(0)
