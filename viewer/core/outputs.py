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


def _first_tensor(value, path: str = ""):
    """The first tensor in value and where it is ("[0]", "['aux']", ".logits"), or (None, "")."""
    if isinstance(value, torch.Tensor):
        return value, path
    if isinstance(value, Mapping):
        items = [(f"[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    elif hasattr(value, "__dict__"):
        items = [(f".{k}", v) for k, v in vars(value).items()]
    else:
        items = []
    for key, v in items:
        t, where = _first_tensor(v, path + key)
        if t is not None:
            return t, where
    return None, ""


def pick(out, choice: str | None = None) -> tuple[torch.Tensor, str]:
    """The logits in a model's return value `out` (see the module doc) and where they were found, written
    after the value ("" for a plain tensor, ".logits", "['logits']", "[0]"); OutputError if there are none."""
    if choice is not None:
        picked, where = None, ""
        if choice.lstrip("-").isdigit() and isinstance(out, (list, tuple)):
            i = int(choice)
            picked, where = (out[i] if -len(out) <= i < len(out) else None), f"[{i}]"
        elif isinstance(out, Mapping):
            picked, where = out.get(choice), f"[{choice!r}]"
        else:
            picked, where = getattr(out, choice, None), f".{choice}"
        if not isinstance(picked, torch.Tensor):
            raise OutputError(f"--output {choice}: the model's {type(out).__name__} has no tensor there")
        return picked, where
    if isinstance(out, torch.Tensor):
        return out, ""
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits, ".logits"
    if isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor):
        return out["logits"], "['logits']"
    t, where = _first_tensor(out)
    if t is None:
        raise OutputError(f"the model returned {type(out).__name__} with no tensor in it to use as logits")
    return t, where


def logits_of(out, choice: str | None = None) -> torch.Tensor:
    """The logits in a model's return value `out` (see the module doc); OutputError if there are none."""
    return pick(out, choice)[0]

