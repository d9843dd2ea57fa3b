"""Pure geometry of the window: where each pane goes, and what a point hits. No pygame here."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .images import grid_shape

Rect = tuple[int, int, int, int]  # (x, y, w, h)


def inside(r: Rect, pos: tuple[int, int]) -> bool:
    return r[0] <= pos[0] < r[0] + r[2] and r[1] <= pos[1] < r[1] + r[3]


@dataclass(frozen=True)
class GridGeometry:
    rect: Rect
    rows: int
    cols: int
    tile: int          # tile side in pixels (square tiles, the map is letterboxed inside)
    gap: int
    first: int         # channel index of the first tile (pages)
    count: int         # tiles on this page

    def tile_rect(self, i: int) -> Rect:
        k = i - self.first
        r, c = divmod(k, self.cols)
        return (self.rect[0] + c * (self.tile + self.gap), self.rect[1] + r * (self.tile + self.gap),
                self.tile, self.tile)

    def hit(self, pos) -> int:
        x, y = pos[0] - self.rect[0], pos[1] - self.rect[1]
        if x < 0 or y < 0:
            return -1
        c, r = x // (self.tile + self.gap), y // (self.tile + self.gap)
        if c >= self.cols:  # a click in the gap after a tile counts for that tile
            return -1
        k = r * self.cols + c
        return self.first + k if k < self.count else -1


def grid_geometry(rect: Rect, channels: int, page: int, min_tile: int = 14, gap: int = 2) -> GridGeometry:
    """Near-square tiling of all channels; when the tiles would drop below min_tile, pages of tiles."""
    x, y, w, h = rect
    rows, cols = grid_shape(channels, w / max(h, 1))
    t = min((w + gap) // cols, (h + gap) // rows) - gap
    per_page = channels
    if t < min_tile:
        cols, rows = max(1, (w + gap) // (min_tile + gap)), max(1, (h + gap) // (min_tile + gap))
        per_page = rows * cols
        t = min((w + gap) // cols, (h + gap) // rows) - gap
    pages = math.ceil(channels / per_page)
    first = min(max(page, 0), pages - 1) * per_page
    return GridGeometry(rect, rows, cols, max(1, t), gap, first, min(per_page, channels - first))


@dataclass(frozen=True)
class Layout:
    size: tuple[int, int]
    strip: Rect
    source: Rect
    model_input: Rect
    predictions: Rect
    grid: Rect
    unit_map: Rect
    overlay: Rect
    recon: Rect
    recon_heat: Rect
    unit_text: Rect
    status: Rect
    blocks: tuple[Rect, ...]
    # --compare: the second model's strip row, feature maps, unit images and predictions (empty otherwise)
    other_blocks: tuple[Rect, ...] = ()
    other_grid: Rect = (0, 0, 0, 0)
    other_map: Rect = (0, 0, 0, 0)
    other_recon: Rect = (0, 0, 0, 0)
    other_predictions: Rect = (0, 0, 0, 0)
    strip_rows: tuple[Rect, ...] = ()     # --compare: the two rows of the strip (front model first)
    atlas_strip: Rect = (0, 0, 0, 0)      # under the predictions: the selected unit's top patches
    label_bottoms: tuple[int, ...] = ()   # per block: the bottom of its strip row (its label goes above it)

    @property
    def compare(self) -> bool:
        return bool(self.other_blocks)


MIN_WINDOW = (1024, 640)   # the smallest window: every caption and unit line fits there (tested)
MIN_SLOT = 46   # pixels per layer block below which the strip wraps into rows (a deep network, --leaves)


def strip_rows(width: int, n: int) -> int:
    """How many rows the strip needs so that each block keeps MIN_SLOT pixels."""
    return max(1, math.ceil(n * MIN_SLOT / max(1, width)))


def block_rects(strip: Rect, shapes: list[tuple[int, ...]], rows: int = 1) -> tuple[Rect, ...]:
    """One block per layer, in rows of equal length; height grows with spatial size, width with channel count
    (log scale). Each row keeps 30 pixels under its blocks for the labels."""
    x0, y0, w, h = strip
    n = max(1, len(shapes))
    per_row = math.ceil(n / rows)
    row_h = h // rows
    gap = 6
    slot = max(8, (w - gap * (per_row + 1)) // per_row)
    label_h = 30
    max_sp = max([s[1] if len(s) == 3 else 1 for s in shapes] + [1])
    max_ch = max([s[0] for s in shapes] + [1])
    rects = []
    for i, s in enumerate(shapes):
        r, k = divmod(i, per_row)
        sp = s[1] if len(s) == 3 else 1
        fh = 0.3 + 0.7 * math.sqrt(sp / max_sp)
        fw = 0.35 + 0.65 * math.log1p(s[0]) / math.log1p(max_ch)
        bh = max(6, int((row_h - label_h - 8) * fh))
        bw = max(6, int(slot * fw))
        bx = x0 + gap + k * (slot + gap) + (slot - bw) // 2
        by = y0 + r * row_h + 4 + (row_h - label_h - 8 - bh) // 2
        rects.append((bx, by, bw, bh))
    return tuple(rects)


def label_bottoms(strip: Rect, n: int, rows: int) -> tuple[int, ...]:
    """The baseline under which each block's label goes (the bottom of its row)."""
    per_row = math.ceil(max(1, n) / rows)
    row_h = strip[3] // rows
    return tuple(strip[1] + (i // per_row + 1) * row_h for i in range(n))


def compute_layout(size: tuple[int, int], shapes: list[tuple[int, ...]],
                   other_shapes: list[tuple[int, ...]] | None = None) -> Layout:
    """The window's panes. With other_shapes (--compare) the strip has a second row for the other model,
    and the feature maps, the unit images and the predictions are split between the two models."""
    W, H = max(size[0], 640), max(size[1], 400)
    m = 8
    strip_h = max(90, min(140, H // 6))
    nrows = strip_rows(W, len(shapes)) if other_shapes is None else 1
    if nrows > 1:                     # a deep network: rows of blocks, each with room for its labels
        strip_h = min(max(strip_h, 64 * nrows), H // 3)
    if other_shapes is not None:
        strip_h = max(150, min(200, H // 4))
    status_h = 24
    top = strip_h + m
    body_h = H - top - status_h - m
    left_w = max(300, min(440, W * 34 // 100))
    right_w = max(300, min(420, W * 32 // 100))
    # left column: source + model input side by side, predictions below
    img = min((left_w - 3 * m) // 2, body_h * 45 // 100)
    source = (m, top + 18, img, img)
    model_input = (2 * m + img, top + 18, img, img)
    predictions = (m, top + img + 40, left_w - 2 * m, max(60, body_h - img - 48))
    pred_h = min(predictions[3], 148)     # five rows; below them the unit's top patches where there is room
    rest = predictions[1] + predictions[3] - (predictions[1] + pred_h + 26)
    atlas_strip = (m, predictions[1] + pred_h + 26, left_w - 2 * m, rest) if rest >= 70 else (0, 0, 0, 0)
    # right column: 2 x 2 unit images
    rx = W - right_w
    u = min((right_w - 3 * m) // 2, (body_h - 90) // 2)
    unit_map = (rx + m, top + 18, u, u)
    overlay = (rx + 2 * m + u, top + 18, u, u)
    recon = (rx + m, top + u + 40, u, u)
    recon_heat = (rx + 2 * m + u, top + u + 40, u, u)
    unit_text = (rx + m, top + 2 * u + 46, right_w - 2 * m, max(20, body_h - 2 * u - 50))
    grid = (left_w + m, top + 18, W - left_w - right_w - 2 * m, body_h - 22)
    strip = (0, 0, W, strip_h)
    status = (0, H - status_h, W, status_h)
    if other_shapes is None:
        predictions = predictions[:3] + (pred_h,) if atlas_strip[2] else predictions
        return Layout((W, H), strip=strip, source=source, model_input=model_input, predictions=predictions,
                      grid=grid, unit_map=unit_map, overlay=overlay, recon=recon, recon_heat=recon_heat,
                      unit_text=unit_text, status=status, blocks=block_rects(strip, shapes, nrows),
                      atlas_strip=atlas_strip, label_bottoms=label_bottoms(strip, len(shapes), nrows))
    # compare: front model on top / on the left, the other below / on the right. The right column's four
    # squares hold the front unit's map and reconstruction (top row) and the other model's (bottom row): no
    # overlay, no heat map
    row, tag_w = strip_h // 2, 34   # a column on the left names each row's model (A, B)
    rows = ((0, 0, W, row), (0, row, W, strip_h - row))
    blocks = block_rects((tag_w, 0, W - tag_w, row), shapes)
    other_blocks = block_rects((tag_w, row, W - tag_w, strip_h - row), other_shapes)
    gx, gy, gw, gh = grid
    half = (gh - 22) // 2
    ph = (predictions[3] - 22) // 2
    none = (0, 0, 0, 0)
    return Layout((W, H), strip=strip, source=source, model_input=model_input,
                  predictions=(predictions[0], predictions[1], predictions[2], ph),
                  grid=(gx, gy, gw, half), unit_map=unit_map, overlay=none, recon=overlay, recon_heat=none,
                  unit_text=unit_text, status=status, blocks=blocks, other_blocks=other_blocks,
                  other_grid=(gx, gy + half + 22, gw, gh - half - 22), other_map=recon, other_recon=recon_heat,
                  other_predictions=(predictions[0], predictions[1] + ph + 22, predictions[2],
                                     predictions[3] - ph - 22),
                  strip_rows=rows)


@dataclass(frozen=True)
class AtlasTiles:
    """Where the atlas pane puts K patches (rows of up to `cols`) and, below them, their reconstructions."""
    rect: Rect
    k: int
    cols: int
    tile: int
    gap: int = 6
    label: int = 18     # the line under each patch (its activation and image)
    recon_rows: bool = True   # room for a reconstruction under each patch (the A pane; not the strip)

    def patch(self, j: int) -> Rect:
        r, c = divmod(j, self.cols)
        return (self.rect[0] + c * (self.tile + self.gap), self.rect[1] + r * (self.tile + self.label + self.gap),
                self.tile, self.tile)

    def recon(self, j: int) -> Rect:
        rows = math.ceil(self.k / self.cols)
        top = self.rect[1] + rows * (self.tile + self.label + self.gap) + 22
        r, c = divmod(j, self.cols)
        return (self.rect[0] + c * (self.tile + self.gap), top + r * (self.tile + self.gap), self.tile, self.tile)

    def hit(self, pos) -> int:
        """The patch under pos, or -1."""
        for j in range(self.k):
            if inside(self.patch(j), pos):
                return j
        return -1


def atlas_tiles(rect: Rect, k: int, gap: int = 6, label: int = 18, recon_rows: bool = True) -> AtlasTiles:
    """The largest square tiles for K patches in rows of `cols`, plus as many reconstruction rows below
    (recon_rows)."""
    best = None
    for cols in range(1, max(k, 1) + 1):
        rows = math.ceil(k / cols)
        if recon_rows:
            t = min((rect[2] + gap) // cols - gap, (rect[3] - 22 - rows * (label + 2 * gap)) // (2 * rows))
        else:
            t = min((rect[2] + gap) // cols - gap, (rect[3] - rows * (label + gap)) // max(rows, 1))
        if best is None or t > best[1]:
            best = (cols, t)
    return AtlasTiles(rect, k, best[0], max(4, best[1]), gap, label, recon_rows)
