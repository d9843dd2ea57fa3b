"""What a reconstruction is of: a unit, a channel at its strongest position, or a class logit; and how each
resolves to one unit (layer, channel, y, x) of a forward pass (DESIGN.md section 3, "The seed")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .attribution import ForwardPass

LOGITS = "logits"   # the layer name of a class target's unit


class AttributionError(Exception):
    """An attribution cannot be computed as asked; the message is one sentence for the user."""


@dataclass(frozen=True)
class UnitTarget:
    layer: str
    channel: int
    y: int = 0
    x: int = 0


@dataclass(frozen=True)
class ChannelTarget:
    """A channel at its strongest position in the current input."""
    layer: str
    channel: int


@dataclass(frozen=True)
class ClassTarget:
    """A class logit (pre-softmax)."""
    index: int


Target = Union[UnitTarget, ChannelTarget, ClassTarget]


def resolve(fp: ForwardPass, target: Target) -> UnitTarget:
    """The unit a target seeds in this pass; AttributionError (one sentence) where it is out of range."""
    if isinstance(target, ClassTarget):
        n = fp.logits.shape[1]
        if not 0 <= target.index < n:
            raise AttributionError(f"class {target.index} out of range (the model has {n} outputs)")
        return UnitTarget(LOGITS, target.index)
    act = fp.output(target.layer).detach()[0]   # (C, H, W) or (C,)
    c = target.channel
    if not 0 <= c < act.shape[0]:
        raise AttributionError(f"channel {c} out of range for layer '{target.layer}' ({act.shape[0]} channels)")
    if isinstance(target, ChannelTarget):
        if act.dim() == 1:
            return UnitTarget(target.layer, c)
        w = act.shape[2]
        flat = int(act[c].flatten().argmax())
        return UnitTarget(target.layer, c, flat // w, flat % w)
    if act.dim() == 3 and not (0 <= target.y < act.shape[1] and 0 <= target.x < act.shape[2]):
        raise AttributionError(f"position ({target.y}, {target.x}) outside layer '{target.layer}' "
                               f"({act.shape[1]}x{act.shape[2]})")
    return target


def resolve_many(fp: ForwardPass, targets: list[Target]) -> list[UnitTarget]:
    """resolve() for every target; the strongest positions of a layer are found in one argmax."""
    peaks: dict[str, list[int]] = {}
    units = []
    for t in targets:
        act = fp.output(t.layer).detach()[0] if isinstance(t, ChannelTarget) else None
        if act is None or act.dim() != 3 or not 0 <= t.channel < act.shape[0]:
            units.append(resolve(fp, t))  # other kinds, and the error messages
            continue
        if t.layer not in peaks:
            peaks[t.layer] = act.flatten(1).argmax(1).tolist()       # (C,) flat index of each maximum
        flat, w = peaks[t.layer][t.channel], act.shape[2]
        units.append(UnitTarget(t.layer, t.channel, flat // w, flat % w))
    return units
