"""Where the strip draws its skip-connection arcs and its stage lines (pure geometry, no pygame)."""
from __future__ import annotations

from .layout import Rect


def skip_arcs(inputs: list[tuple[str, ...]], names: list[str], blocks: tuple[Rect, ...],
              bottoms: tuple[int, ...] = ()) -> list[list[tuple[int, int]]]:
    """Polylines over the strip for every input of a layer that is not the layer just before it (a skip
    connection, a branch joining): from the top of the source block up, across, and down to the layer's block.
    Where the two blocks are in different rows of a wrapped strip, the arc is two pieces: along its source's
    row to the row's right end (a short tick down there), and from the left end of the layer's row (a tick)
    across and down to the layer."""
    index = {n: i for i, n in enumerate(names)}
    row_of = bottoms or (0,) * len(blocks)
    ends: dict[int, tuple[int, int]] = {}          # row bottom -> (left, right) x of its blocks
    for b, r in zip(blocks, row_of):
        lo, hi = ends.get(r, (b[0], b[0] + b[2]))
        ends[r] = (min(lo, b[0]), max(hi, b[0] + b[2]))
    arcs = []
    for j, ins in enumerate(inputs):
        for src in ins:
            i = index.get(src)
            if i is None or i == j - 1 or i >= j:
                continue
            a, b = blocks[i], blocks[j]
            lift = 3 + 2 * ((j - i) % 3)                          # nested arcs at slightly different heights
            ax, bx = a[0] + a[2] // 2, b[0] + b[2] // 2
            if row_of[i] == row_of[j]:
                top = min(a[1], b[1]) - lift
                arcs.append([(ax, a[1]), (ax, top), (bx, top), (bx, b[1])])
                continue
            right, left = ends[row_of[i]][1] + 4, ends[row_of[j]][0] - 4
            ta, tb = a[1] - lift, b[1] - lift
            arcs.append([(ax, a[1]), (ax, ta), (right, ta), (right, ta + 5)])
            arcs.append([(left, tb + 5), (left, tb), (bx, tb), (bx, b[1])])
    return arcs


def stage_starts(names: list[str], bottoms: tuple[int, ...] = ()) -> list[tuple[int, str]]:
    """(block index, stage name) where a stage begins: a top-level module with several layers in the strip
    (ResNet's layer1..layer4, a Sequential's numbered children are not stages). The strip draws a thin line
    before each and writes the stage's name over its first block."""
    top = [n.split(".")[0] for n in names]
    count: dict[str, int] = {}
    for t, n in zip(top, names):
        if "." in n:
            count[t] = count.get(t, 0) + 1
    return [(i, t) for i, t in enumerate(top) if count.get(t, 0) >= 2 and (i == 0 or top[i - 1] != t)]
