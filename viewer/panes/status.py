"""The status bar. Its right end is fixed (the method, the rates, the age of the result, H: help) and never pushed
off; to its left a notice (for a few seconds, coloured by kind; a model error until it clears), every mode that
changes what is drawn (with the key that undoes it), then the source, the model and the device."""
from __future__ import annotations

import pygame

from ..features import active
from ..render import draw
from .base import Pane, PaneView

INFO = (150, 205, 150)   # a notice that something was done: not the error colour
COLOURS = {"INFO": INFO, "WARN": (255, 170, 80), "ERROR": draw.WARN}


def shown_method(session) -> str:
    """What the unit panel's images show: the method, or what a feature put there instead (G)."""
    return next((label for f in active() if (label := f.method_label(session))), session.method.label)


def rates(v: PaneView) -> str:
    r = v.result
    if r is None:
        return "waiting for the first result"
    if v.result_is_current and v.model_fps < 0.05:     # a still image or a paused frame: nothing to recompute
        return "still frame: recomputed on change"
    age = "up to date" if v.result_is_current else f"{(v.now - r.request.t_submit) * 1000:.0f} ms old"
    return f"model {v.model_fps:.1f} results/s, draw {v.draw_fps:.0f} fps, result {age}"


class StatusPane(Pane):
    name = "status bar"

    def about(self, v: PaneView):
        x, y, w, h = v.layout.status
        return [((x, y + 18, w, h), "Left: a notice, then every mode that is on (yellow, with the key that turns it "
                 "off), the source, model and device. Right: what the unit images show, how fast, and H for help.")]

    def draw(self, surface, v: PaneView) -> None:
        x, y, w, h = v.layout.status
        pygame.draw.rect(surface, draw.PANEL, (x, y, w, h))
        s, r = v.session, v.result
        right = f"{shown_method(s)}   {rates(v)}   H: help"
        rw = min(draw.font(18).size(right)[0], w // 2)
        draw.text(surface, right, (x + w - 8 - rw, y + 5), 18, draw.DIM, max_width=rw)
        notice = s.current_notice(v.now)
        warn = "   ".join(m for m in (r.nonfinite if r is not None else "", v.source_message) if m)
        where = f"source {v.source_name}   model {s.model_name}   device {v.device}   saves -> {v.save_dir}"
        cx, end = x + 8, x + w - rw - 28
        for text, colour in ((notice.text if notice else "", COLOURS[notice.level.name] if notice else None),
                             (warn, draw.WARN), ("   ".join(s.modes()), draw.ACCENT), (where, draw.DIM)):
            if text and cx < end - 40:
                draw.text(surface, text, (cx, y + 5), 18, colour, max_width=end - cx)
                cx += draw.font(18).size(text)[0] + 24
