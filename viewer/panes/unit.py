"""The selected unit: its activation map, the overlay on the model input, its reconstruction by the current
method (signed and as a heat map) or Grad-CAM, and a few lines about the target."""
from __future__ import annotations

import numpy as np

from ..core import methods
from ..core.attribution import LOGITS
from ..core.methods import as_method
from ..render import draw, images
from ..worker import Result
from .base import Pane, PaneView


def unit_text(v: PaneView, surface, lines, colour) -> None:
    x, y, w, h = v.layout.unit_text
    for i, line in enumerate(lines):
        if 20 * i + 18 > h:
            break
        draw.text(surface, line, (x, y + 20 * i), 19, colour, max_width=w)


def caption(surface, rect, text: str, colour=draw.DIM) -> None:
    if rect[2] > 0:   # --compare leaves the overlay and the heat map out: zero-size rectangles
        draw.caption(surface, rect, text, colour)




def placeholder(surface, rect, text: str, colour=draw.DIM) -> None:
    if rect[2] > 0:
        draw.placeholder(surface, rect, text, colour)


class UnitPane(Pane):
    name = "unit panel"

    def images_for(self, v: PaneView, r: Result) -> dict:
        cached = self.cache.get("unit")
        if cached is not None:
            return cached
        out: dict = {}
        c = min(v.state.channel, r.activation.shape[0] - 1)
        amap = r.activation[c]
        out["map"] = images.colormap(amap, v.act_scale.value, v.state.colormap)
        mh, mw = r.model_image.shape[:2]
        ys = np.minimum((np.arange(mh) * amap.shape[0]) // mh, amap.shape[0] - 1)
        xs = np.minimum((np.arange(mw) * amap.shape[1]) // mw, amap.shape[1] - 1)
        up = images.colormap(amap[ys][:, xs], v.act_scale.value, "viridis")
        out["overlay"] = (0.45 * r.model_image + 0.55 * up).astype(np.uint8)
        recon = r.recon
        u = r.unit
        if v.zoom and u is not None and u.layer == v.layer.name and v.layer.rf is not None:
            box = v.layer.rf.box(u.y, u.x)                       # the receptive field, enlarged
            out["overlay"] = images.cut_box(out["overlay"].transpose(2, 0, 1), box, 40)[0].transpose(1, 2, 0)
            recon = images.cut_box(recon, box)[0] if recon is not None else None
        twin = r.random_recon
        if v.zoom and twin is not None and u is not None and u.layer == v.layer.name and v.layer.rf is not None:
            twin = images.cut_box(twin, v.layer.rf.box(u.y, u.x))[0]
        if recon is not None:
            out["recon"] = images.signed_rgb(recon, v.recon_scale.value)
            out["heat"] = images.heat(recon, v.recon_scale.value)  # the same smoothed scale: no flicker
        if twin is not None:   # X: the randomized copy's map at its own scale (its magnitude is arbitrary)
            out["twin"] = images.signed_rgb(twin, images.robust_scale(twin))
        if r.class_maps:   # G: each class map by name; (h, w) maps over the input, (c, h, w) images signed
            out["class_maps"] = []
            for name, m in r.class_maps.items():
                if m.ndim == 2:
                    img = (0.5 * r.model_image + 0.5 * images.colormap(m, 1.0, "viridis")).astype(np.uint8)
                else:
                    img = images.signed_rgb(m, images.robust_scale(m))
                out["class_maps"].append((name, img))
        self.cache["unit"] = out
        return out

    def blit(self, surface, name: str, img, rect) -> None:
        """images_for()'s image `name` scaled into rect, once per result (both caches are dropped with it)."""
        if rect[2] > 0:
            surface.blit(self.made(("surface", name, tuple(rect)), lambda: draw.scaled_surface(img, rect[2:])),
                         rect[:2])

    def draw(self, surface, v: PaneView) -> None:
        L, r, s = v.layout, v.result, v.state
        if r is None or r.request.layer != v.layer.name:
            for rect in (L.unit_map, L.overlay, L.recon, L.recon_heat):
                placeholder(surface, rect, "computing...")
            return
        imgs = self.images_for(v, r)
        c = min(s.channel, r.activation.shape[0] - 1)
        who = f"{v.model_tag}: " if v.compare is not None else ""
        caption(surface, L.unit_map, f"{who}{v.layer.name} channel {c}" if who else f"channel {c} activation")
        self.blit(surface, "map", imgs["map"], L.unit_map)
        caption(surface, L.overlay, "overlay on the model input")
        self.blit(surface, "overlay", imgs["overlay"], L.overlay)
        u = r.unit
        if u is not None and u.layer == v.layer.name and r.activation.shape[1] > 1:
            h, w = r.activation.shape[1:]
            cx = L.unit_map[0] + int((u.x + 0.5) * L.unit_map[2] / w)
            cy = L.unit_map[1] + int((u.y + 0.5) * L.unit_map[3] / h)
            draw.marker(surface, (cx, cy), max(4, L.unit_map[2] // (2 * w)))
        if s.gradcam and imgs.get("class_maps"):
            cls = v.classes[r.cam_class] if r.cam_class < len(v.classes) else str(r.cam_class)
            for k, (rect, (name, img)) in enumerate(zip((L.recon, L.recon_heat), imgs["class_maps"])):
                caption(surface, rect, f"{name}: {cls}" if k == 0 else name)
                self.blit(surface, name, img, rect)
            if len(imgs["class_maps"]) == 1:   # guided Grad-CAM needs ReLUs to guide (a SiLU network has none)
                placeholder(surface, L.recon_heat, "no ReLU to guide", draw.WARN)
            if r.error and u is None:          # the unit's method failed: say why under the maps
                unit_text(v, surface, draw.wrap(r.error, 19, L.unit_text[2]), draw.WARN)
                return
        elif r.error:
            placeholder(surface, L.recon, r.error[:60], draw.WARN)
            placeholder(surface, L.recon_heat, "", draw.WARN)
            unit_text(v, surface, draw.wrap(r.error, 19, L.unit_text[2]), draw.WARN)
            return
        elif "recon" in imgs:
            label = as_method(r.request.method).label
            caption(surface, L.recon, f"{who}{label}, grey = 0")
            if r.inactive and as_method(r.request.method).zero_when_inactive:
                placeholder(surface, L.recon, "unit inactive (activation 0)", draw.WARN)
                placeholder(surface, L.recon_heat, "nothing drives it here", draw.WARN)
            else:
                self.blit(surface, "recon", imgs["recon"], L.recon)
                if "twin" in imgs:
                    caption(surface, L.recon_heat, f"randomized from {r.random_layers[0]} up")
                    if np.any(r.random_recon):
                        self.blit(surface, "twin", imgs["twin"], L.recon_heat)
                    else:
                        placeholder(surface, L.recon_heat, "zero: inactive in the random copy", draw.WARN)
                else:
                    caption(surface, L.recon_heat, f"|{label}| heat map")
                    self.blit(surface, "heat", imgs["heat"], L.recon_heat)
        if u is not None:
            where = (f"class '{v.classes[u.channel] if u.channel < len(v.classes) else u.channel}' logit"
                     if u.layer == LOGITS else f"{u.layer} channel {u.channel} at (y={u.y}, x={u.x})")
            lock = " (locked: L)" if v.recon_scale.locked else ""
            lines = [f"target: {where}", f"{s.target_mode.value}, value {r.value:.4g}",
                     f"{s.method.label}, scale {v.recon_scale.value:.2g}{lock}",
                     f"receptive field {int(v.layer.rf.size[0])}x{int(v.layer.rf.size[1])} px"
                     + (" (zoomed to it: V)" if v.zoom else "") if v.layer.rf else "receptive field: whole input"]
            if s.gradcam and imgs.get("class_maps"):
                lines.append(f"{', '.join(m.label for m in methods.CLASS_MAPS)} at {v.layer.name}")
            if r.similarity is not None:
                a, sg, ss = r.similarity
                lines[:0] = [f"randomized {r.random_layers[0]}..{r.random_layers[-1]} (X): SSIM {ss:.2f}",
                             f"Spearman |map| {a:.2f}, signed {sg:.2f}"]
            if r.class_spearman is not None:
                lines.insert(0, f"top vs 2nd class: Spearman |.| {r.class_spearman:.2f}")
            if u.layer != LOGITS and r.activation.shape[1] > 1:
                lines.append("click the map to pick a position")
            unit_text(v, surface, lines, draw.TEXT)
