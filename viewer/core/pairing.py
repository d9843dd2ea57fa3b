"""Which layer of one network corresponds to which layer of another (the compare view, --compare).

Rule: cut each network's layers (in execution order) into stages, a stage being a run of layers whose
outputs have the same spatial size. Stages of the two networks are matched by their spatial size, in
order (the longest common subsequence of the two size sequences, so a stage only one network has stays
unpaired). Inside a matched pair of stages the layers pair up from the start of the stage: the layer that
changed the size (a max-pool in Model C, the stride-2 convolution that replaced it in All-CNN-C) with its
counterpart, then the next layers in order; the extra layers of the longer stage stay unpaired.

    All-CNN-C  conv1 conv2 | conv3 conv4 conv5 | conv6 | conv7 conv8 conv9 | pool
    Model C    conv1 conv2 | pool1 conv3 conv4 | pool2 | conv5 conv6 conv7 | pool
"""
from __future__ import annotations

from .graph import LayerInfo


def stages(layers: list[LayerInfo]) -> list[tuple[tuple[int, int], list[str]]]:
    """(spatial size, layer names) runs in execution order."""
    out: list[tuple[tuple[int, int], list[str]]] = []
    for layer in layers:
        size = layer.spatial
        if out and out[-1][0] == size:
            out[-1][1].append(layer.name)
        else:
            out.append((size, [layer.name]))
    return out


def _match(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of two size sequences (earliest matches first)."""
    n, m = len(a), len(b)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = best[i + 1][j + 1] + 1 if a[i] == b[j] else max(best[i + 1][j], best[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def pair_layers(a: list[LayerInfo], b: list[LayerInfo]) -> dict[str, str | None]:
    """For every layer of `a`, the name of its counterpart in `b` (None: unpaired). See the module doc."""
    sa, sb = stages(a), stages(b)
    out: dict[str, str | None] = {l.name: None for l in a}
    for i, j in _match([s for s, _ in sa], [s for s, _ in sb]):
        for name_a, name_b in zip(sa[i][1], sb[j][1]):
            out[name_a] = name_b
    return out
