"""K: concept relevance (Achtibat et al. 2023, CRP) for the top class (or the class C targets): which channels of
the selected layer carry the class's relevance in this frame, and where in the image each one supports it.

One LRP pass of the frame (the current method where it is an LRP composite, else EpsilonPlusFlat), seeded with the
class's logit, gives the relevance arriving at every channel of the layer: R_c, its sum over positions, is drawn
as a bar on each tile (red for, blue against, as long as |R_c| over the largest). The unit panel shows the
conditional map of the selected channel (the same backward pass with the layer's relevance kept on that channel
only: "where does this channel support the class") beside the class's whole map. K again orders the grid by
relevance (the most relevant channel first; a click still selects the channel under it); K a third time is off.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ..core import methods
from ..core.concepts import concept_relevance
from ..core.lrp_rules import EPSILON_PLUS_FLAT
from ..core.targets import AttributionError, ClassTarget
from ..render import images
from .base import Feature, Key, Slot


@dataclass
class ConceptState:
    level: int = 0        # 0 off, 1 relevance on the tiles, 2 the grid ordered by it


@dataclass(frozen=True)
class Ask:
    layer: str
    channel: int
    composite: str        # the composite's method name


@dataclass(frozen=True)
class ConceptsPart:
    layer: str
    cls: int
    label: str                    # the composite's label
    channels: np.ndarray          # (C,) R_c: the class's relevance arriving at each channel of the layer
    put_in: float                 # the logit: the relevance put in
    conditional: np.ndarray       # (3, H, W) the input relevance through the selected channel only
    whole: np.ndarray             # (3, H, W) the class's input relevance
    channel: int = 0
    error: str = ""
    order: tuple = ()             # the channels by relevance, most first


def composite_for(session):
    m = session.method
    return m if getattr(m, "relevance", False) else methods.method_named(EPSILON_PLUS_FLAT.name)


class Concepts(Feature):
    name, title = "concepts", "concept relevance"

    def keys(self):
        return (Key(("k",), False, "concepts: each channel's relevance for the class (sort, off)",
                    self.cycle),)

    def initial(self, options):
        return ConceptState()

    def cycle(self, session) -> None:
        st = session.part(self.name)
        st.level = (st.level + 1) % 3
        session.changed()

    def level(self, session) -> int:
        return session.part(self.name).level

    def mode(self, session) -> str:
        return ("", "K concepts", "K concepts, ordered")[self.level(session)]

    def request(self, session, grid):
        if not self.level(session) or len(session.info.shape) != 3:
            return None
        return Ask(session.info.name, session.channel, composite_for(session).value)

    def step(self, pipe, job, part: Ask) -> ConceptsPart:
        method = methods.method_named(part.composite)
        t = job.req.target
        ch = min(part.channel, pipe.layers[part.layer].channels - 1)
        try:
            cr = concept_relevance(job.analyzer, job.fp, method.composite, part.layer,
                                   t.index if isinstance(t, ClassTarget) else None, [ch])
        except AttributionError as e:
            empty = np.zeros(0, np.float32)
            return ConceptsPart(part.layer, -1, method.label, empty, 0.0, empty, empty, error=str(e))
        job.lap("concepts")
        r_c = cr.channels.numpy()
        return ConceptsPart(part.layer, cr.cls, method.label, r_c, cr.put_in, cr.conditional[0].numpy(),
                            cr.whole.numpy(), ch, order=tuple(int(c) for c in np.argsort(-r_c, kind="stable")))

    # --- main thread --------------------------------------------------------------------------------
    def current(self, v, r) -> ConceptsPart | None:
        part = r.part(self.name) if r is not None else None
        return part if part is not None and part.layer == v.layer.name else None

    def order(self, session, layer: str, result) -> list[int] | None:
        """The grid's channels by relevance (most first) while K orders the feature maps, else None (also while W,
        F or the atlas fill the grid: their tiles stay in channel order)."""
        part = result.part(self.name) if result is not None else None
        if self.level(session) != 2 or part is None or part.layer != layer or not part.order:
            return None
        if any(getattr(session.part(n), "on", False) for n in ("whole_layer", "filters")) or \
                getattr(session.part("atlas"), "view", False):
            return None
        return list(part.order)

    def slots(self, v, r):
        part = self.current(v, r)
        if part is None or part.error or part.channel != v.session.channel:
            return {}
        cls = v.session.classes[part.cls] if part.cls < len(v.session.classes) else str(part.cls)
        name = v.session.unit_name(v.layer, part.channel)   # each at its own scale: a 2% share is still seen
        return {0: Slot((f"{name}'s share of '{cls}' (own scale)", f"{name}'s share", "its share"),
                        images.relevance_image(part.conditional)[0]),
                1: Slot((f"all of '{cls}' ({part.label})", f"all of '{cls}'"), images.relevance_image(part.whole)[0])}

    def lines(self, v, r):
        part = self.current(v, r)
        if part is None:
            return []
        if part.error:
            return [f"concepts: {part.error}"]
        cls = v.session.classes[part.cls] if part.cls < len(v.session.classes) else str(part.cls)
        c = part.channel
        rank = int((part.channels > part.channels[c]).sum()) + 1
        total = float(part.channels.sum())
        share = 100 * part.channels[c] / total if total else 0.0
        arrive = 100 * total / part.put_in if part.put_in else 0.0
        return [(f"K: '{cls}' at {v.layer.name}: {total:.3g} of {part.put_in:.3g} arrive here",
                 f"K: '{cls}': {arrive:.0f}% arrive at {v.layer.name}", f"K: {arrive:.0f}% arrive here"),
                (f"channel {c}: {part.channels[c]:.3g} ({share:.0f}%), rank {rank} of {len(part.channels)}",
                 f"channel {c}: {share:.0f}%, rank {rank} of {len(part.channels)}")]

    def panes(self):
        from ..panes.concept_bars import ConceptBars
        return (ConceptBars(self),)
