"""A: the unit atlas, what drives the selected unit across a data set: its top-K patches from an atlas file
(python -m viewer.atlas, --atlas FILE) or, for layers the file lacks or without one, from the frames the
source has shown so far (the live atlas; Shift+A resets it). In the grid's place, with their
reconstructions; small under the predictions always; with W, each unit's top patch as its tile. A click on
a patch opens its image, paused, at that unit."""
from __future__ import annotations

import numpy as np

from ..atlas.entries import entry_view, unit_entries
from ..atlas.live import LiveAtlas
from ..render import images
from ..render.layout import atlas_tiles
from .base import Feature, Key


class AtlasState:
    def __init__(self, file=None, live: LiveAtlas | None = None):
        self.view = False            # A: the atlas in the grid's place
        self.source = file           # --atlas: viewer/atlas/store.Atlas, or None
        self.live = live             # the top frames of the selected layer, from the source
        self.ranking = file.rankings()[0] if file is not None and file.rankings() else "activation"
        self._ranked: dict = {}

    @property
    def file(self):
        """The atlas file's layers in the ranking shown (activation, or relevance: A switches where it has both)."""
        if self.source is None:
            return None
        if self.ranking not in self._ranked:
            self._ranked[self.ranking] = self.source.ranked(self.ranking)
        return self._ranked[self.ranking]


class AtlasFeature(Feature):
    name, title = "atlas", "unit atlas"

    def keys(self):
        return (Key(("a",), False, "unit atlas: top patches (file, else live; again: by relevance)", self.toggle),
                Key(("a",), True, "reset the live atlas", self.reset))

    def initial(self, options):
        return AtlasState(options.get("atlas"), LiveAtlas() if options.get("live_atlas", True) else None)

    def toggle(self, session) -> None:
        """Off -> on; on -> the other ranking where the file has both (python -m viewer.atlas --rank both); -> off."""
        st = session.part(self.name)
        ranks = st.source.rankings() if st.source is not None else []
        if st.view and len(ranks) > 1 and st.ranking == ranks[0]:
            st.ranking = ranks[1]
        else:
            st.view = not st.view
            st.ranking = ranks[0] if ranks else "activation"
        session.changed()

    def reset(self, session) -> None:
        live = session.part(self.name).live
        if live is not None:
            live.reset()
            session.notify("live atlas reset")
        session.changed()

    def mode(self, session) -> str:
        st = session.part(self.name)
        return ("A atlas, by relevance" if st.ranking == "relevance" else "A atlas") if st.view else ""

    def takes_grid(self, session) -> bool:
        return session.part(self.name).view and not any(
            getattr(session.part(n), "on", False) for n in ("whole_layer", "filters"))

    def accept(self, session, res) -> None:
        live = session.part(self.name).live
        if live is not None and res.request.model == session.front and res.request.frame_no > 0:
            live.update(res.request.layer, res.activation, res.request.frame_no, res.model_image)

    def panes(self):
        from ..panes.atlas import AtlasPane
        from ..panes.atlas_strip import AtlasStripPane
        return AtlasStripPane(), AtlasPane()

    def grid_tiles(self, v, geom):
        st = v.session.part(self.name)
        on = getattr(v.session.part("whole_layer"), "on", False)
        if not (on and st.view and st.file is not None and v.layer.name in st.file.layers):
            return None
        la = st.file.layers[v.layer.name]
        tiles = np.stack([images.padded(la.patches[c, 0], la.valid[c, 0])
                          for c in range(geom.first, geom.first + geom.count)])
        return f"top patches: {v.layer.channels} units", tiles, \
            "each unit's top patch from the atlas (grey checks: outside the image; A: live reconstructions again)"


def open_patch(session, pos, rect, recon_rows: bool) -> bool:
    """A click on an atlas patch (the A pane, or the strip under the predictions): its image becomes the
    frame (paused), with that unit selected at that position. False where pos is on no patch."""
    layer, st = session.info, session.part("atlas")
    if layer.rf is None:
        return False
    kind, entries = unit_entries(st.file, st.live, layer, session.channel)
    la = st.file.layers.get(layer.name) if kind == "file" else None
    first = 1 if la is not None and la.optimized is not None and recon_rows else 0   # the A pane's optimized tile
    geo = atlas_tiles(rect, len(entries) + first, recon_rows=recon_rows) if entries else None
    j = geo.hit(pos) - first if geo is not None else -1
    view = entry_view(st.file, st.live, kind, entries[j].key) if j >= 0 else None
    if view is None:
        return False
    e = entries[j]
    st.view = False
    what = f"atlas image {e.label}" if kind == "file" else f"live atlas {e.label}"
    session.open_frame(view, e.key if kind == "file" else -1, e.y, e.x, what)
    return True
