"""The status bar: source, model, device and precision, rates, the age of the result, method, messages."""
from __future__ import annotations

import pygame

from ..render import draw
from .base import Pane, PaneView


class StatusPane(Pane):
    name = "status bar"

    def draw(self, surface, v: PaneView) -> None:
        x, y, w, h = v.layout.status
        pygame.draw.rect(surface, draw.PANEL, (x, y, w, h))
        r = v.result
        if r is None:
            age = "result -"
        elif v.result_is_current:
            age = "result up to date"
        else:
            age = f"result age {(v.now - r.request.t_submit) * 1000:.0f} ms"
        msg = "   |   ".join(m for m in (r.nonfinite if r is not None else "", v.message or v.source_message) if m)
        parts = [f"source {v.source_name}", f"model {v.model_name}", f"device {v.device}",
                 f"draw {v.draw_fps:.0f} fps",
                 f"model {v.model_fps:.1f} fps", age,
                 v.state.method.label, "PAUSED" if v.state.paused else "", f"saves -> {v.save_dir}",
                 "H: help"]
        line = "   ".join(p for p in parts if p)
        if msg:
            line = f"{msg}   |   {line}"
        draw.text(surface, line, (x + 8, y + 5), 18, draw.WARN if msg else draw.DIM, max_width=w - 16)
