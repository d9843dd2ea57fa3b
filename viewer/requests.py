"""What crosses between the window and the inference thread: an immutable Request down, an immutable Result
back. Each is a small core (the frame, the layer, the target, the method / the arrays every view needs) plus
the features' parts, keyed by feature name (viewer/features): a new analysis adds a part, not a field."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .core.attribution import Target, UnitTarget
from .core.methods import GUIDED, AttributionMethod
from .core.rules import Method


@dataclass(frozen=True)
class Request:
    frame: np.ndarray                  # RGB uint8 (H, W, 3), never written to
    frame_index: int
    layer: str
    target: Target | None              # None: feature maps and predictions only
    method: AttributionMethod | Method = GUIDED   # a registered method (core/methods.py), or a bare ReLU rule
    seq: int = 0
    model: int = 0                     # which model of a pair computes it (--compare)
    frame_no: int = 0                  # the window's count of frames taken (the live atlas numbers frames by it)
    parts: dict[str, Any] = field(default_factory=dict)   # feature name -> its frozen request part
    t_submit: float = field(default_factory=time.perf_counter)

    def part(self, name: str) -> Any:
        return self.parts.get(name)

    def key(self) -> tuple:
        """What the request asks of its frame: two requests on the same frame object with equal keys ask the
        same (the window does not send it again)."""
        return (self.layer, self.target, self.method.value, self.model,
                tuple(sorted(self.parts.items(), key=lambda kv: kv[0])))


@dataclass(frozen=True)
class Result:
    request: Request
    model_image: np.ndarray            # (h, w, 3) uint8: the exact image the model saw
    crop: tuple[int, int, int, int]    # (top, left, h, w) of the frame it was cut from
    activation: np.ndarray             # selected layer: (C, H, W) or (C, 1, 1)
    probs: np.ndarray                  # (classes,) softmax of the logits
    unit: UnitTarget | None = None     # the resolved unit (a class target: layer "logits")
    value: float = 0.0                 # the unit's activation (or logit)
    inactive: bool = False
    recon: np.ndarray | None = None    # (3, h, w) signed reconstruction by request.method
    error: str = ""                    # the attribution could not be computed (the rest of the result holds)
    failed: bool = False               # the model call itself failed: error says why, the arrays are empty
    interim: bool = False              # handed over while a long part is still under way (W's tiles so far)
    nonfinite: str = ""                # where the pass held NaN or inf ("NaN in layer conv3 ..."), else ""
    parts: dict[str, Any] = field(default_factory=dict)   # feature name -> its frozen result part
    compute_ms: float = 0.0
    stages: tuple[tuple[str, float], ...] = ()   # (stage, ms) of compute: where the time of this result went
    t_done: float = field(default_factory=time.perf_counter)

    def part(self, name: str) -> Any:
        return self.parts.get(name)


def failed_result(req: Request, e: Exception) -> Result:
    """The Result of a request whose model call raised: error says why, the arrays are empty."""
    return Result(req, np.zeros((0, 0, 3), np.uint8), (0, 0, 0, 0), np.zeros((0, 0, 0), np.float32),
                  np.zeros(0, np.float32), error=f"{type(e).__name__}: {e}", failed=True)
