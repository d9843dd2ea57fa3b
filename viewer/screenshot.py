"""S: the window as a PNG with a JSON beside it (model, layer, unit, target, method, modes, source, frame),
under a new name each time (nothing is ever overwritten)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pygame


def save_screenshot(surface: pygame.Surface, save_dir: Path, session, source_name: str,
                    frame_index: int) -> tuple[Path | None, str]:
    """(the PNG written, "") or (None, why not)."""
    try:
        save_dir.mkdir(parents=True, exist_ok=True)
        base, k = time.strftime("viewer-%Y%m%d-%H%M%S"), 0
        while (save_dir / f"{base}-{k:02d}.png").exists():
            k += 1
        stem = save_dir / f"{base}-{k:02d}"
        png = stem.with_suffix(".png")
        pygame.image.save(surface, str(png))
        r = session.result
        u = r.unit if r is not None else None
        info = {"model": session.model_name, "layer": session.info.name, "channel": session.channel,
                "unit": None if u is None else {"layer": u.layer, "channel": u.channel, "y": u.y, "x": u.x},
                "target": session.target_mode.value, "method": session.method.value,
                "gradcam": bool(getattr(session.part("class_maps"), "on", False)), "modes": session.modes(),
                "source": source_name, "frame_index": frame_index}
        stem.with_suffix(".json").write_text(json.dumps(info, indent=2))
        return png, ""
    except (OSError, pygame.error) as e:
        return None, str(e)
