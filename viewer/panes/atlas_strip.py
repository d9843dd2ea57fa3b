"""Under the predictions: what drives the selected unit, its top patches from the atlas file (--atlas) or
from the live atlas, small; a click opens the patch's image paused at that unit (A shows them large)."""
from __future__ import annotations

from ..atlas.entries import entry_patch, unit_entries
from ..render import draw
from ..render.images import padded
from ..render.layout import atlas_tiles, inside
from .base import Pane, PaneView


class AtlasStripPane(Pane):
    name = "atlas strip"
    follows_result = False

    def draw(self, surface, v: PaneView) -> None:
        rect = v.layout.atlas_strip
        if rect[2] == 0 or v.layer.rf is None or len(v.layer.shape) != 3:
            return
        st, ch = v.session.part("atlas"), v.session.channel
        kind, entries = unit_entries(st.file, st.live, v.layer, ch)
        where = ("the atlas file" + (" by relevance" if st.ranking == "relevance" else "")) if kind == "file" \
            else "the frames so far"
        draw.caption(surface, rect, (f"what drives channel {ch}: top {len(entries)} of {where} (A: larger)",
                                     f"channel {ch}: top {len(entries)} of {where}", f"top {len(entries)} (A: larger)"))
        if not entries:
            draw.placeholder(surface, rect, "collecting frames..." if kind == "live" else "no entries")
            return
        geo = atlas_tiles(rect, len(entries), label=14, recon_rows=False)
        # the tiles change only when the entries do (a new top frame, another unit): cut and scaled once
        key = (kind, v.layer.name, ch, tuple(entries), rect, id(st.file))
        if self.cache.get("key") != key:
            tiles = []
            for j, e in enumerate(entries):
                patch, valid = entry_patch(st.file, st.live, kind, v.layer, ch, j, e)
                tiles.append(draw.scaled_surface(padded(patch, valid), geo.patch(j)[2:]))
            self.cache.update(key=key, tiles=tiles)
        for j, (e, tile) in enumerate(zip(entries, self.cache["tiles"])):
            r = geo.patch(j)
            surface.blit(tile, r[:2])
            draw.text(surface, f"{e.value:.2g}", (r[0], r[1] + r[3] + 1), 13, draw.DIM, max_width=r[2])

    def about(self, v: PaneView):
        return [(v.layout.atlas_strip, "What drives this channel elsewhere: the patches (its receptive field) of the "
                 "frames or data-set images where it was strongest, best first, with that activation under each; "
                 "grey checks are outside the image. Click one to open it.")]

    def click(self, pos, session, v: PaneView) -> bool:
        rect = v.layout.atlas_strip
        if rect[2] == 0 or not inside(rect, pos):
            return False
        from ..features.atlas import open_patch
        open_patch(session, pos, rect, recon_rows=False)
        return True
