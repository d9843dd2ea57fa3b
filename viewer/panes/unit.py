"""The selected unit: its activation map (a click picks a position), the overlay on the model input, its
reconstruction by the current method (signed and as a heat map) and a few lines about the target. Features
may fill the two reconstruction images (Slot: G's class maps, X's randomized copy) and add lines."""
from __future__ import annotations

import numpy as np

from ..core.attribution import LOGITS
from ..core.methods import as_method
from ..features import Slot, active
from ..render import draw, images
from ..render.layout import inside
from ..requests import Result
from .base import Pane, PaneView


def unit_text(v: PaneView, surface, lines, colour) -> None:
    x, y, w, h = v.layout.unit_text
    for i, line in enumerate(lines):
        if 20 * i + 18 > h:
            break
        draw.text(surface, line, (x, y + 20 * i), 19, colour, max_width=w)


def core_slots(v: PaneView, r: Result, imgs: dict) -> dict[int, Slot]:
    """The reconstruction and its heat map, or why there are none."""
    method = as_method(r.request.method)
    if r.error:
        return {0: Slot("", note=r.error[:60], warn=True), 1: Slot("", warn=True)}
    if "recon" not in imgs:
        return {}
    who = f"{v.model_tag}: " if v.model_tag else ""
    signed = (f"{who}{method.label}, grey = 0", f"{who}{method.label}")
    heat = (f"|{method.label}| heat map", f"|{method.label}|")
    if method.relevance:
        signed = (f"{who}{method.label}: red +, blue -", f"{who}{method.label}")
        heat = (f"{method.label} on the input", "on the input")
    if r.inactive and method.zero_when_inactive:
        return {0: Slot(signed, note="unit inactive (activation 0)", warn=True),
                1: Slot(heat, note="nothing drives it here", warn=True)}
    return {0: Slot(signed, imgs["recon"]), 1: Slot(heat, imgs["heat"])}


class UnitPane(Pane):
    name = "unit panel"

    def images_for(self, v: PaneView, r: Result) -> dict:
        """The unit's images (activation map, overlay, reconstruction, heat map) and every feature's slots
        and lines, made once per result and view change."""
        cached = self.cache.get("unit")
        if cached is not None:
            return cached
        out: dict = {}
        c = min(v.session.channel, r.activation.shape[0] - 1)
        amap, scales = r.activation[c], v.session.scales
        out["map"] = images.colormap(amap, scales.act.value, v.session.colormap)
        mh, mw = r.model_image.shape[:2]
        ys = np.minimum((np.arange(mh) * amap.shape[0]) // mh, amap.shape[0] - 1)
        xs = np.minimum((np.arange(mw) * amap.shape[1]) // mw, amap.shape[1] - 1)
        up = images.colormap(amap[ys][:, xs], scales.act.value, "viridis")
        out["overlay"] = (0.45 * r.model_image + 0.55 * up).astype(np.uint8)
        recon, u = r.recon, r.unit
        if v.zoom and u is not None and u.layer == v.layer.name and v.layer.rf is not None:
            box = v.layer.rf.box(u.y, u.x)                       # the receptive field, enlarged
            out["overlay"] = images.cut_box(out["overlay"].transpose(2, 0, 1), box, 40)[0].transpose(1, 2, 0)
            recon = images.cut_box(recon, box)[0] if recon is not None else None
        if recon is not None and v.session.method.relevance:   # LRP: one signed map, red +, blue -
            out["recon"], out["scale"] = images.relevance_image(recon)
            grey = r.model_image.mean(2, keepdims=True) if recon.shape[1:] == r.model_image.shape[:2] else 128.0
            out["heat"] = (0.35 * grey + 0.65 * out["recon"]).astype(np.uint8)   # over the model's input
        elif recon is not None:
            out["recon"] = images.signed_rgb(recon, scales.recon.value)
            out["heat"] = images.heat(recon, scales.recon.value)  # the same smoothed scale: no flicker
        slots = core_slots(v, r, out)
        lines: list[str] = []
        for f in active():          # a later feature's images win (G's class maps over X's copy)
            slots.update(f.slots(v, r))
            lines += f.lines(v, r)
        out.update(slots=slots, lines=lines)
        self.cache["unit"] = out
        return out

    def blit(self, surface, name: str, img, rect) -> None:
        """An image scaled into rect, once per result (both caches are dropped with it)."""
        if rect[2] > 0:
            surface.blit(self.made(("surface", name, tuple(rect)), lambda: draw.scaled_surface(img, rect[2:])),
                         rect[:2])

    def draw(self, surface, v: PaneView) -> None:
        L, r, s = v.layout, v.result, v.session
        if r is None or r.request.layer != v.layer.name:
            for rect in (L.unit_map, L.overlay, L.recon, L.recon_heat):
                if rect[2] > 0:
                    draw.placeholder(surface, rect, "computing...")
            return
        imgs = self.images_for(v, r)
        c = min(s.channel, r.activation.shape[0] - 1)
        who = f"{v.model_tag}: " if v.model_tag else ""
        name = s.unit_name(v.layer, c)
        draw.caption(surface, L.unit_map, f"{who}{v.layer.name} {name}" if who else (f"{name} activation", name))
        self.blit(surface, "map", imgs["map"], L.unit_map)
        if L.overlay[2] > 0:     # --compare leaves the overlay and the heat map out: zero-size rectangles
            draw.caption(surface, L.overlay, ("overlay on the model input", "on the model input"))
            self.blit(surface, "overlay", imgs["overlay"], L.overlay)
        u = r.unit
        if u is not None and u.layer == v.layer.name and r.activation.shape[1] > 1:
            h, w = r.activation.shape[1:]
            cx = L.unit_map[0] + int((u.x + 0.5) * L.unit_map[2] / w)
            cy = L.unit_map[1] + int((u.y + 0.5) * L.unit_map[3] / h)
            draw.marker(surface, (cx, cy), max(4, L.unit_map[2] // (2 * w)))
        for k, rect in enumerate((L.recon, L.recon_heat)):
            slot = imgs["slots"].get(k)
            if slot is None or rect[2] == 0:
                continue
            if slot.caption:
                draw.caption(surface, rect, slot.caption)
            if slot.image is not None:
                self.blit(surface, f"slot{k}:{slot.caption}", slot.image, rect)
            else:
                draw.placeholder(surface, rect, slot.note, draw.WARN if slot.warn else draw.DIM)
        if r.error and (u is None or "recon" not in imgs):   # the unit's method failed: say why under the maps
            unit_text(v, surface, imgs["lines"] + draw.wrap(r.error, 19, L.unit_text[2]), draw.WARN)
            return
        if u is not None:
            unit_text(v, surface, imgs["lines"] + self.target_lines(v, r), draw.TEXT)

    def target_lines(self, v: PaneView, r: Result) -> list[str]:
        s, u = v.session, r.unit
        where = (f"class '{v.session.classes[u.channel] if u.channel < len(v.session.classes) else u.channel}' logit"
                 if u.layer == LOGITS else f"{u.layer} {s.unit_name(v.layer, u.channel)} at (y={u.y}, x={u.x})")
        lock = " (locked: L)" if s.scales.recon.locked else ""
        scale = self.images_for(v, r).get("scale", s.scales.recon.value)   # relevance: its own scale, as drawn
        lines = [f"target: {where}", f"{s.target_mode.value}, value {r.value:.4g}",
                 f"{s.method.label}, scale {scale:.2g}" + ("" if s.method.relevance else lock),
                 f"receptive field {int(v.layer.rf.size[0])}x{int(v.layer.rf.size[1])} px"
                 + (" (zoomed to it: V)" if v.zoom else "") if v.layer.rf and u.layer != LOGITS
                 else "receptive field: whole input"]   # a class logit sees every pixel
        if s.method.relevance and r.recon is not None and r.value:
            reached = float(r.recon.sum())
            lines.append(f"relevance in {r.value:.3g}, at the pixels {reached:.3g} ({100 * reached / r.value:.0f}%)")
        if s.target_mode.name == "POSITION":
            lines.append("pinned to this position: R releases it")
        elif u.layer != LOGITS and r.activation.shape[1] > 1:
            lines.append("click the map to pick a position")
        return lines

    def about(self, v: PaneView):
        L, m = v.layout, v.session.method.label
        if v.session.method.relevance:
            return [(L.recon, f"{m}: how much each pixel contributes to the unit (its activation is the relevance put "
                     "in), summed over colours; red for, blue against, white none. The line below says how much of it "
                     "reached the pixels (biases and stabilizers keep the rest)."),
                    (L.recon_heat, f"The same {m} map over the model's input (grey): which parts of the picture.")]
        return [(L.unit_map, "The selected channel's activation map (its 'feature map'); the circle marks the unit being "
                 "explained: its strongest position, or the one you clicked (click to pin one, R releases it)."),
                (L.overlay, "The same map laid over the model's input: where in the image this channel fires."),
                (L.recon, f"What in the input drives the unit, by {m}: the input pixels its backward pass reaches, "
                 "signed (grey is zero; colour shows which input channel). Zero outside its receptive field."),
                (L.recon_heat, f"The same {m} image as a magnitude (largest over colours): where the evidence is.")]

    def hover(self, pos, v: PaneView) -> str:
        r, L = v.result, v.layout
        if r is None or r.request.layer != v.layer.name or not inside(L.unit_map, pos) or r.activation.ndim != 3:
            return ""
        c = min(v.session.channel, r.activation.shape[0] - 1)
        h, w = r.activation.shape[1:]
        y = min(h - 1, int((pos[1] - L.unit_map[1]) / L.unit_map[3] * h))
        x = min(w - 1, int((pos[0] - L.unit_map[0]) / L.unit_map[2] * w))
        return f"(y={y}, x={x}): activation {r.activation[c, y, x]:.3g}; click to explain this position"

    def click(self, pos, session, v: PaneView) -> bool:
        """A click on the activation map targets that position of the channel."""
        x, y, w, h = v.layout.unit_map
        if not inside(v.layout.unit_map, pos):
            return False
        if len(v.layer.shape) == 3:
            lh, lw = v.layer.spatial
            session.pick_position(min(lh - 1, int((pos[1] - y) / h * lh)), min(lw - 1, int((pos[0] - x) / w * lw)))
        return True
