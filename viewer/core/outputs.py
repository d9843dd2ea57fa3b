"""Which part of a model's return value is the logits (the predictions, class targets and Grad-CAM use it).

The rule, in order: a tensor is the logits; else an object's `.logits` attribute (Hugging Face image
classifiers' outputs); else a mapping's "logits" entry; else the first tensor found in the value (a tuple
of (logits, auxiliary), a list, a dict in insertion order, nested). `--output NAME|INDEX` overrides it: a
name is a mapping key or an attribute, a number an index into a tuple or list.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch


class OutputError(ValueError):
    """The model's return value holds no tensor the rule (or --output) picks; one sentence."""


def _first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Mapping):
        value = list(value.values())
    elif hasattr(value, "__dict__") and not isinstance(value, (list, tuple)):
        value = list(vars(value).values())
    if isinstance(value, (list, tuple)):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def logits_of(out, choice: str | None = None) -> torch.Tensor:
    """The logits in a model's return value `out` (see the module doc); OutputError if there are none."""
    if choice is not None:
        picked = None
        if choice.lstrip("-").isdigit() and isinstance(out, (list, tuple)):
            i = int(choice)
            picked = out[i] if -len(out) <= i < len(out) else None
        elif isinstance(out, Mapping):
            picked = out.get(choice)
        else:
            picked = getattr(out, choice, None)
        if not isinstance(picked, torch.Tensor):
            raise OutputError(f"--output {choice}: the model's {type(out).__name__} has no tensor there")
        return picked
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor):
        return out["logits"]
    t = _first_tensor(out)
    if t is None:
        raise OutputError(f"the model returned {type(out).__name__} with no tensor in it to use as logits")
    return t
