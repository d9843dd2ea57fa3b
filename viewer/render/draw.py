"""pygame drawing functions. They only draw: every image arrives ready-made from images.py."""
from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache

import numpy as np
import pygame

from .layout import GridGeometry, Rect

BG = (24, 26, 30)
PANEL = (34, 37, 43)
TEXT = (220, 223, 228)
DIM = (140, 145, 155)
ACCENT = (255, 196, 0)
WARN = (255, 110, 90)
KIND_COLOURS = {"conv": (70, 130, 220), "linear": (190, 110, 220), "norm": (90, 170, 120),
                "activation": (230, 150, 60), "pool": (80, 190, 190), "block": (120, 120, 200),
                "other": (130, 130, 130)}


@lru_cache(maxsize=16)
def font(size: int) -> pygame.font.Font:
    return pygame.font.Font(None, size)


def forget_fonts() -> None:
    """Fonts (and the lines rendered with them) die with pygame.quit(): a new pygame session starts afresh."""
    font.cache_clear()
    LINES.clear()


Words = str | tuple[str, ...]   # one line, or its wordings from the longest to the shortest


def fitting(s: Words, size: int, max_width: int | None) -> str:
    """The first wording of s that fits max_width at this size (the last one when none does)."""
    if isinstance(s, str):
        return s
    if max_width is not None:
        f = font(size)
        for w in s[:-1]:
            if f.size(w)[0] <= max_width:
                return w
    return s[-1] if max_width is not None else s[0]


def text(surface: pygame.Surface, s: Words, pos: tuple[int, int], size: int = 18, colour=TEXT,
         max_width: int | None = None) -> int:
    """Draw one line; returns its width. s may give several wordings (the first that fits is drawn: a small
    window gets the short one); a line that still does not fit is cut with an ellipsis."""
    img = LINES.get((fitting(s, size, max_width), size, tuple(colour), max_width))
    surface.blit(img, pos)
    return img.get_width()


class LineCache:
    """Rendered lines, the least recently used dropped first once they hold more than max_bytes of pixels:
    most lines are the same every frame (labels, captions), and lines with changing numbers (the rates, a
    result's age) come and go without the cache growing (a long session's memory stays flat)."""

    def __init__(self, max_bytes: int = 4 << 20):
        self.max_bytes, self.bytes = max_bytes, 0
        self.lines: OrderedDict[tuple, pygame.Surface] = OrderedDict()

    def get(self, key: tuple) -> pygame.Surface:
        img = self.lines.get(key)
        if img is not None:
            self.lines.move_to_end(key)
            return img
        img = self.lines[key] = _render(*key)
        self.bytes += img.get_width() * img.get_height() * img.get_bytesize()
        while self.bytes > self.max_bytes and len(self.lines) > 1:
            _, old = self.lines.popitem(last=False)
            self.bytes -= old.get_width() * old.get_height() * old.get_bytesize()
        return img

    def clear(self) -> None:
        self.lines.clear()
        self.bytes = 0


LINES = LineCache()


def _render(s: str, size: int, colour: tuple, max_width: int | None) -> pygame.Surface:
    """A line rendered once (the strip's labels, captions and most unit lines are the same every frame)."""
    f = font(size)
    if max_width is not None and f.size(s)[0] > max_width:
        while s and f.size(s + "...")[0] > max_width:
            s = s[:-1]
        s += "..."
    return f.render(s, True, colour)


def wrap(s: str, size: int, width: int) -> list[str]:
    """The words of s in lines that fit width pixels at this font size (a word longer than a line stays
    whole: text() cuts it)."""
    f, lines, line = font(size), [], ""
    for word in s.split():
        trial = f"{line} {word}" if line else word
        if line and f.size(trial)[0] > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def array_surface(arr: np.ndarray) -> pygame.Surface:
    """(H, W, 3) uint8 RGB -> a pygame Surface (copied)."""
    arr = np.ascontiguousarray(arr)
    return pygame.image.frombuffer(arr.tobytes(), (arr.shape[1], arr.shape[0]), "RGB").copy()


def scaled_surface(arr: np.ndarray, size: tuple[int, int]) -> pygame.Surface:
    """An RGB array as a surface of that size (nearest neighbour keeps unit pixels crisp)."""
    return pygame.transform.scale(array_surface(arr), (size[0], size[1]))


def blit_image(surface: pygame.Surface, arr: np.ndarray, rect: Rect) -> None:
    """Scale an RGB array to fill rect (nearest neighbour keeps unit pixels crisp)."""
    surface.blit(scaled_surface(arr, rect[2:]), rect[:2])


def frame(surface: pygame.Surface, rect: Rect, colour=DIM, width: int = 1) -> None:
    pygame.draw.rect(surface, colour, pygame.Rect(rect).inflate(2 * width, 2 * width), width)


def caption(surface: pygame.Surface, rect: Rect, s: Words, colour=DIM) -> None:
    text(surface, s, (rect[0], rect[1] - 16), 17, colour, max_width=rect[2])


def placeholder(surface: pygame.Surface, rect: Rect, message: Words, colour=DIM) -> None:
    """A panel with a message in its middle: the first wording that fits on one line, else the first wrapped on
    up to three lines (a small window's panels are narrow)."""
    pygame.draw.rect(surface, PANEL, rect)
    width = rect[2] - 8
    one = fitting(message, 20, width)
    lines = [one] if font(20).size(one)[0] <= width else \
        wrap(message if isinstance(message, str) else message[0], 20, width)[:3]
    f = font(20)
    top = rect[1] + rect[3] // 2 - 8 - 11 * (len(lines) - 1)
    for i, line in enumerate(lines):
        w = f.size(line)[0]
        text(surface, line, (rect[0] + max(4, (rect[2] - w) // 2), top + 22 * i), 20, colour, max_width=width)


def strip(surface: pygame.Surface, blocks: tuple[Rect, ...], labels: list[tuple[str, str, str]],
          selected: int, bottom) -> None:
    """labels: (name, shape text, kind value) per block; bottom: the labels' baseline, one for all blocks or
    one per block (a strip in rows). Names are cut to their slot; the selected block's label is drawn whole,
    on top, so it is readable even when the strip is crowded."""
    bottoms = list(bottom) if isinstance(bottom, (list, tuple)) else [bottom] * len(blocks)
    pitch = blocks[1][0] + blocks[1][2] // 2 - blocks[0][0] - blocks[0][2] // 2 if len(blocks) > 1 else 200
    if pitch <= 0:   # the second block starts a new row
        pitch = 200
    for i, (r, (name, shape, kind)) in enumerate(zip(blocks, labels)):
        if i == selected:
            pygame.draw.rect(surface, ACCENT, pygame.Rect(r).inflate(8, 8), border_radius=5)
        pygame.draw.rect(surface, KIND_COLOURS.get(kind, KIND_COLOURS["other"]), r, border_radius=3)
        if i != selected:
            _label(surface, r[0] + r[2] // 2, bottoms[i], name, shape, pitch - 6, TEXT)
    if 0 <= selected < len(blocks):
        r = blocks[selected]
        bottom = bottoms[selected]
        name, shape, _ = labels[selected]
        w = max(font(17).size(name)[0], font(14).size(shape)[0]) + 10
        cx = min(max(r[0] + r[2] // 2, w // 2 + 2), surface.get_width() - w // 2 - 2)
        pygame.draw.rect(surface, BG, (cx - w // 2, bottom - 30, w, 30))
        _label(surface, cx, bottom, name, shape, w, ACCENT)


def _label(surface, cx: int, bottom: int, name: str, shape: str, width: int, colour) -> None:
    if font(17).size(name)[0] > width:
        name = name.rsplit(".", 1)[-1]  # crowded: "conv6.bn" -> "bn" (kind colour and shape tell the rest)
    for k, (s, size, c) in enumerate(((name, 17, colour), (shape, 14, DIM))):
        w = min(font(size).size(s)[0], width)
        text(surface, s, (cx - w // 2, bottom - 28 + k * 14), size, c, max_width=width)


def predictions(surface: pygame.Surface, rect: Rect, rows: list[tuple[str, float]], highlight: int = -1,
                before: list[float] | None = None) -> None:
    """Bars of the top classes; with `before` (an ablation) a tick at each class's intact probability and
    the change in percentage points after its own."""
    x, y, w, h = rect
    bar_h = min(24, max(12, h // max(1, len(rows)) - 4))
    bar_w = w - (230 if before is not None else 170)
    for i, (name, p) in enumerate(rows):
        yy = y + i * (bar_h + 4)
        if yy + bar_h > y + h:
            break
        pygame.draw.rect(surface, PANEL, (x + 110, yy, bar_w, bar_h))
        pygame.draw.rect(surface, ACCENT if i == highlight else (90, 150, 230),
                         (x + 110, yy, int(bar_w * max(0.0, min(1.0, p))), bar_h))
        text(surface, name, (x, yy + 2), 20, TEXT, max_width=105)
        if before is not None:
            tx = x + 110 + int(bar_w * max(0.0, min(1.0, before[i])))
            pygame.draw.line(surface, TEXT, (tx, yy - 1), (tx, yy + bar_h), 2)
            text(surface, f"{100 * p:5.1f}%", (x + w - 115, yy + 2), 19, TEXT)
            d = round(100 * (p - before[i]), 1)     # what is printed decides the colour: -0.0 is no change
            colour = WARN if d < 0 else (120, 210, 120) if d > 0 else DIM
            text(surface, f"{abs(d):.1f}" if d == 0 else f"{d:+.1f}", (x + w - 50, yy + 2), 19, colour)
        else:
            text(surface, f"{100 * p:5.1f}%", (x + w - 55, yy + 2), 19, TEXT)


def grid(surface: pygame.Surface, geom: GridGeometry, tiles: np.ndarray) -> None:
    """tiles: (count, h, w, 3) uint8 for the channels geom.first .. geom.first + count - 1, drawn as one
    mosaic image (one blit instead of a scale and a blit per tile). The selection frame is the caller's:
    it changes more often than the tiles."""
    from .images import mosaic
    img = mosaic(tiles, geom.cols, geom.tile, geom.gap, BG)
    surface.blit(array_surface(img), geom.tile_rect(geom.first)[:2])


def box(surface: pygame.Surface, rect: Rect, colour=ACCENT, width: int = 2) -> None:
    pygame.draw.rect(surface, colour, rect, width)


def marker(surface: pygame.Surface, centre: tuple[int, int], radius: int = 6, colour=ACCENT) -> None:
    pygame.draw.circle(surface, colour, centre, radius, 2)


def overlay_panel(surface: pygame.Surface, lines: list[tuple[str, str]], title: str) -> None:
    """A centred dark panel with a two-column table (the help overlay); two such tables side by side when
    the rows do not fit one below the other."""
    W, H = surface.get_size()
    shade = pygame.Surface((W, H), pygame.SRCALPHA)
    shade.fill((0, 0, 0, 170))
    surface.blit(shade, (0, 0))
    row = 22
    fits = (H - 40 - 74) // row
    cols = 1 if len(lines) <= fits else 2
    per = -(-len(lines) // cols)
    pw = min(720 * cols, W - 40)
    ph = min(44 + row * per + 20, H - 40)
    px, py = (W - pw) // 2, (H - ph) // 2
    pygame.draw.rect(surface, PANEL, (px, py, pw, ph), border_radius=8)
    text(surface, title, (px + 16, py + 10), 26, ACCENT)
    cw = pw // cols
    key_w = 150 if cols == 2 else 180
    for i, (k, d) in enumerate(lines):
        c, r = divmod(i, per)
        x, y = px + 16 + c * cw, py + 44 + row * r
        if y > py + ph - 18:
            break
        text(surface, k, (x, y), 20, ACCENT, max_width=key_w - 8)
        text(surface, d, (x + key_w, y), 20, TEXT, max_width=cw - key_w - 24)


def tooltip(surface: pygame.Surface, pos: tuple[int, int], s: str, width: int = 380) -> None:
    """A few wrapped lines in a box beside the mouse, kept inside the window."""
    lines = wrap(s, 17, width - 16)
    w = min(width, max(font(17).size(line)[0] for line in lines) + 16)
    h = 8 + 17 * len(lines)
    W, H = surface.get_size()
    x, y = min(pos[0] + 14, W - w - 4), min(pos[1] + 18, H - h - 4)
    if y < pos[1] and x < pos[0]:                  # would cover the pointer: above it
        y = max(4, pos[1] - h - 8)
    pygame.draw.rect(surface, (48, 52, 60), (x, y, w, h))
    pygame.draw.rect(surface, DIM, (x, y, w, h), 1)
    for i, line in enumerate(lines):
        text(surface, line, (x + 8, y + 4 + 17 * i), 17, TEXT, max_width=w - 12)
