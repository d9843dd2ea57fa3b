"""The unit atlas in the window (key A, with --atlas FILE): in the grid's place, the selected unit's top-K
patches from the data set, and below them their reconstructions by the current method (B switches). A
click on a patch makes its image the frame (paused) with that unit selected at that position."""
from __future__ import annotations

from ..atlas.entries import entry_patch, unit_entries
from ..core.methods import as_method
from ..render import draw, images
from ..render.images import padded
from ..render.layout import atlas_tiles, inside
from .base import Pane, PaneView


def state(v: PaneView):
    return v.session.part("atlas")


class AtlasPane(Pane):
    name = "unit atlas"
    follows_result = False   # its tiles depend on the layer, channel and method only (cache key)

    def shown_key(self) -> tuple | None:
        """(layer, channel, method) of the atlas tiles drawn last, or None."""
        made = self.cache.get("tiles")
        return made[0] if made else None

    def shown(self, v: PaneView) -> bool:
        from ..features import named
        return named("atlas").takes_grid(v.session)       # the registered feature, not a fresh one per draw

    def click(self, pos, session, v: PaneView) -> bool:
        if not self.shown(v) or not inside(v.layout.grid, pos):
            return False
        from ..features.atlas import open_patch
        open_patch(session, pos, v.layout.grid, recon_rows=True)
        return True

    def draw(self, surface, v: PaneView) -> None:
        s, L, st = v.session, v.layout, state(v)
        if not self.shown(v):
            return
        rect = L.grid
        la = st.file.layers.get(v.layer.name) if st.file is not None else None
        if la is None:
            self.draw_live(surface, v)
            return
        c = min(s.channel, la.values.shape[0] - 1)
        k = la.values.shape[1]
        method = as_method(s.method)
        stored = method.value in la.recons
        data = st.file.meta["data"]
        limit = st.file.meta["settings"].get("limit")
        n = data["count"] if limit is None else min(limit, data["count"])
        draw.caption(surface, rect, f"{v.layer.name} channel {c}: top {k} of {n} images ({data['kind']}); "
                     "click one to open it")
        cached = self.cache.get("tiles")
        key = (v.layer.name, c, method.value)
        if cached is None or cached[0] != key:
            patches = [padded(la.patches[c, j], la.valid[c, j]) for j in range(k)]
            recons = [padded(images.signed_rgb(g, images.robust_scale(g)), la.valid[c, j])
                      for j, g in enumerate(la.recons[method.value][c])] if stored else []
            cached = self.cache["tiles"] = (key, patches, recons)
        _, patches, recons = cached
        first = 1 if la.optimized is not None else 0     # --optimize: what the unit wants, first in the row
        geo = atlas_tiles(rect, k + first)
        if first:
            r = geo.patch(0)
            draw.blit_image(surface, la.optimized[c], r)
            best = float(la.values[c, 0])
            ratio = f", {la.optimized_values[c] / best:.1f}x" if best > 0 else ""
            draw.text(surface, f"wants{ratio}", (r[0], r[1] + r[3] + 2), 15, draw.ACCENT, max_width=r[2])
        for j, t in enumerate(patches):
            r = geo.patch(j + first)
            draw.blit_image(surface, t, r)
            draw.text(surface, f"{la.values[c, j]:.3g}  #{int(la.images[c, j])}", (r[0], r[1] + r[3] + 2), 15,
                      draw.DIM, max_width=r[2])
        label = f"{method.label} of each patch (stored), grey = 0" if stored else \
            f"{method.label}: not stored in the atlas (B: another method)"
        draw.text(surface, label, (rect[0], geo.recon(0)[1] - 18), 17, draw.DIM, max_width=rect[2])
        for j, t in enumerate(recons):
            draw.blit_image(surface, t, geo.recon(j + first))

    def draw_live(self, surface, v: PaneView) -> None:
        """No atlas file for this layer: the live atlas, collected from the source since the last reset."""
        s, rect, st = v.session, v.layout.grid, state(v)
        live = st.live
        entries = unit_entries(None, live, v.layer, s.channel)[1]
        n = live.counts.get(v.layer.name, 0) if live is not None else 0
        why = "" if st.file is None else f" ({v.layer.name} is not in the atlas file)"
        draw.caption(surface, rect, f"{v.layer.name} channel {s.channel}: live, top {len(entries)} of {n} frames"
                     f"{why}; Shift+A resets")
        if not entries or v.layer.rf is None:
            draw.placeholder(surface, rect, "collecting frames from the source..." if v.layer.rf is not None
                             else f"{v.layer.name} has no spatial map: no patches")
            return
        geo = atlas_tiles(rect, len(entries))
        key = (v.layer.name, s.channel, tuple(entries), rect)   # cut and scaled once per change of the entries
        if self.cache.get("live_key") != key:
            self.cache.update(live_key=key, live=[draw.scaled_surface(padded(*entry_patch(
                st.file, live, "live", v.layer, s.channel, j, e)), geo.patch(j)[2:]) for j, e in enumerate(entries)])
        for j, (e, tile) in enumerate(zip(entries, self.cache["live"])):
            r = geo.patch(j)
            surface.blit(tile, r[:2])
            label = f"{e.value:.3g}  {e.label}"               # the frame's name where the tile is wide enough
            label = label if draw.font(15).size(label)[0] <= r[2] else f"{e.value:.3g}"
            draw.text(surface, label, (r[0], r[1] + r[3] + 2), 15, draw.DIM, max_width=r[2])
        draw.text(surface, "click a patch to reopen its frame (paused)", (rect[0], geo.recon(0)[1] - 18), 16,
                  draw.DIM, max_width=rect[2])
