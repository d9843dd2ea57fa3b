"""--compare: a second model on the same frames (the paper's question: what replacing max-pooling by a strided
convolution changes). Its strip row pairs layers by position; the paired layer's feature maps, the same unit
(the same channel, position or class, clipped to its layer) by the same method, and its predictions are
computed in the same worker step as the front model's. Tab brings the other model to the front."""
from __future__ import annotations

from dataclasses import dataclass

from ..core.attribution import ChannelTarget, ClassTarget, Target, UnitTarget
from ..requests import Request, Result, failed_result
from .base import Feature, Key


@dataclass(frozen=True)
class Other:
    """What the compared model computes on the same frame: its paired layer (its last layer, predictions only,
    where none is paired) and the same kind of target (None: none)."""
    layer: str
    target: Target | None
    model: int


class Compare(Feature):
    name, title = "compare", "compare two models"

    def keys(self):
        return (Key(("tab",), False, "--compare: swap which model is in front", self.swap),)

    def swap(self, session) -> None:
        if not session.swap():
            session.notify("Tab swaps the two models of --compare; this window shows one")

    def initial(self, options):
        return options.get("recipes", "")    # how the two models' training differed ("": alike, or unknown)

    def mode(self, session) -> str:
        if session.other is None:
            return ""
        differ = " (trained differently)" if session.part(self.name) else ""
        return f"comparing with {session.other.tag}{differ}: Tab"

    def request(self, session, grid) -> Other | None:
        other = session.other
        if other is None:
            return None
        layer = session.other_layer()
        if layer is None:
            return Other(other.layers[-1].name, None, 1 - session.front)
        target = session.target()
        c = min(session.channel, layer.channels - 1)
        if isinstance(target, ClassTarget):
            mapped = target
        elif isinstance(target, UnitTarget) and len(layer.shape) == 3:
            h, w = layer.spatial
            mapped = UnitTarget(layer.name, c, min(target.y, h - 1), min(target.x, w - 1))
        else:
            mapped = ChannelTarget(layer.name, c)
        return Other(layer.name, mapped, 1 - session.front)

    def step(self, pipe, job, part: Other) -> Result | None:
        if pipe.partner is None:
            return None
        r = job.req
        from . import active
        shared = {f.name: r.parts[f.name] for f in active() if f.both_models and r.parts.get(f.name) is not None}
        req = Request(r.frame, r.frame_index, part.layer, part.target, r.method, seq=r.seq, model=part.model,
                      parts=shared)
        try:
            return pipe.partner.compute(req)
        except Exception as e:   # the other model's failure is shown in its panes; the front result holds
            return failed_result(req, e)

    def accept(self, session, res) -> None:
        o = res.part(self.name)
        if o is not None and not o.failed:
            session.scales.other_act.update(float(o.activation.max()) if o.activation.size else 0.0)
            if o.recon is not None:
                from ..render.images import robust_scale
                session.scales.other_recon.update(robust_scale(o.recon))

    def panes(self):
        from ..panes.compare import ComparePane
        return (ComparePane(),)
