"""The status bar: a notice (for a few seconds; a model error until it clears), every mode that changes what
is drawn, then the source, model, device and precision, rates, the age of the result and the method."""
from __future__ import annotations

import pygame

from ..render import draw
from .base import Pane, PaneView

INFO = (150, 205, 150)   # a notice that something was done: not the error colour


class StatusPane(Pane):
    name = "status bar"

    def draw(self, surface, v: PaneView) -> None:
        x, y, w, h = v.layout.status
        pygame.draw.rect(surface, draw.PANEL, (x, y, w, h))
        r, s = v.result, v.session
        if r is None:
            age = "result -"
        elif v.result_is_current:
            age = "result up to date"
        else:
            age = f"result age {(v.now - r.request.t_submit) * 1000:.0f} ms"
        notice = s.current_notice(v.now)
        warn = [m for m in (r.nonfinite if r is not None else "", v.source_message) if m]
        if notice is not None and notice.level.name != "INFO":
            warn.insert(0, notice.text)
        parts = [f"source {v.source_name}", f"model {v.session.model_name}", f"device {v.device}",
                 f"draw {v.draw_fps:.0f} fps", f"model {v.model_fps:.1f} fps", age, s.method.label,
                 f"saves -> {v.save_dir}", "H: help"]
        cx = x + 8
        for text, colour in (("   |   ".join(warn), draw.WARN),
                             (notice.text if notice is not None and notice.level.name == "INFO" else "", INFO),
                             ("   ".join(s.modes()), draw.ACCENT), ("   ".join(parts), draw.DIM)):
            if text and cx < x + w - 40:
                draw.text(surface, text, (cx, y + 5), 18, colour, max_width=x + w - 8 - cx)
                cx += draw.font(18).size(text)[0] + 24
