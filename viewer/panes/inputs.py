"""The source frame (with the crop the model used), the exact image the model sees (with the unit's
receptive field) and the top-5 predictions."""
from __future__ import annotations

import numpy as np
import pygame

from ..core.attribution import LOGITS
from ..features import active
from ..render import draw
from .base import Pane, PaneView


class InputPane(Pane):
    name = "input pane"
    follows_result = False   # its cache is keyed by the frame itself

    def about(self, v: PaneView):
        L = v.layout
        return [(L.source, "The frame from the source; the thin box is the part the model uses (cut to its shape)."),
                (L.model_input, "Exactly what the model sees, at its input size; the yellow box is the selected "
                 "unit's receptive field, the only pixels that can change it."),
                (L.predictions, "The model's five most likely classes for this frame (softmax of its outputs). A "
                 "model knows only the classes it was trained on: anything else gets the nearest of them.")]

    def frame_rects(self, surface, v: PaneView) -> list:
        """Only the frame changed (not the result, not the view): the source image alone is redrawn, on its own
        rectangle; the rest of the window stays as it was drawn."""
        surface.fill(draw.BG, v.layout.source)
        self.draw_source(surface, v)
        return [v.layout.source]

    def draw_source(self, surface, v: PaneView) -> None:
        """The source frame scaled into its rectangle, with the crop the model used."""
        L = v.layout
        if v.frame is None:
            return
        h, w = v.frame.shape[:2]
        s = min(L.source[2] / w, L.source[3] / h)
        fw, fh = max(1, int(w * s)), max(1, int(h * s))
        rect = (L.source[0] + (L.source[2] - fw) // 2, L.source[1] + (L.source[3] - fh) // 2, fw, fh)
        key = ("source", id(v.frame), rect)
        if self.cache.get("source_key") != key:
            self.cache["source_key"] = key
            self.cache["source"] = pygame.transform.smoothscale(draw.array_surface(v.frame), rect[2:])
        surface.blit(self.cache["source"], rect[:2])
        r = v.result
        if r is not None and not r.failed and r.request.frame.shape == v.frame.shape:  # the crop the model used
            top, left, ch, cw = r.crop
            draw.box(surface, (rect[0] + int(left * s), rect[1] + int(top * s), int(cw * s), int(ch * s)),
                     draw.DIM, 1)

    def draw(self, surface, v: PaneView) -> None:
        L = v.layout
        draw.caption(surface, L.source, f"source: {v.source_name}")
        self.draw_source(surface, v)
        r = v.result
        draw.caption(surface, L.model_input, "what the model sees")
        if r is None or r.failed:
            draw.placeholder(surface, L.model_input, "waiting for the model...")
            return
        key = (id(r.model_image), L.model_input)     # scaled once per result (the image kept: a unique id)
        if self.cache.get("model_key") != key:
            self.cache.update(model_key=key, model_img=r.model_image,
                              model=draw.scaled_surface(r.model_image, L.model_input[2:]))
        surface.blit(self.cache["model"], L.model_input[:2])
        mh, mw = r.model_image.shape[:2]
        if r.unit is not None and r.unit.layer != LOGITS and r.unit.layer == v.layer.name and v.layer.rf:
            t, l, b, rr = v.layer.rf.box(r.unit.y, r.unit.x, mh, mw)
            sx, sy = L.model_input[2] / mw, L.model_input[3] / mh
            draw.box(surface, (L.model_input[0] + int(l * sx), L.model_input[1] + int(t * sy),
                               max(2, int((rr - l) * sx)), max(2, int((b - t) * sy))))
        top5 = np.argsort(-r.probs)[:5]
        names = [v.session.classes[i] if i < len(v.session.classes) else str(i) for i in top5]
        acc = v.session.side.accuracy
        title = f"{v.model_tag} {v.session.model_name}" + (f" ({acc:.1%} on test)" if acc else "") + ": top 5" \
            if v.model_tag else "predictions (top 5)"
        if not v.model_tag and v.source_name.startswith("demo") and len(v.session.classes) == 10:
            title = "top 5 (it knows only 10 CIFAR-10 classes)"   # a coffee cup gets the nearest of them
        before = None
        for f in active():   # e.g. Z: the ablated model's top 5, each with its change from the intact one
            changed = f.predictions(v, r)
            if changed is not None:
                title, before = changed[0], [float(changed[1][i]) for i in top5]
        draw.caption(surface, L.predictions, title)
        draw.predictions(surface, L.predictions, [(n, float(r.probs[i])) for n, i in zip(names, top5)],
                         0 if v.session.target_mode.name == "CLASS" else -1, before)
