"""The analyses, one file each, registered here in one tuple (the order is the order of their steps in the
worker, of their keys in the help, and of their hooks: a later one's unit-panel images win).

A new analysis is one file with a `Feature` subclass (viewer/features/base.py) and one line in FEATURES, or,
from outside the package (a test, a plugin), one call to register(). docs/adding_a_feature.md walks
through one."""
from __future__ import annotations

from .ablation import Ablation
from .atlas import AtlasFeature
from .base import Feature, Job, Key, Slot, Toggle
from .class_maps import ClassMaps
from .class_target import ClassTargetFeature
from .compare import Compare
from .concepts import Concepts
from .filters import Filters
from .optimize import Optimize
from .recording import Recording
from .sanity import Sanity
from .scrub import Scrub
from .whole_layer import WholeLayer
from .zoom import Zoom

FEATURES: tuple[Feature, ...] = (Scrub(), WholeLayer(), Filters(), ClassTargetFeature(), Ablation(), Sanity(), ClassMaps(),
                                 Concepts(), Optimize(), AtlasFeature(), Zoom(), Compare(), Recording())

_extra: list[Feature] = []


def active() -> tuple[Feature, ...]:
    """The registered features: FEATURES, then those added by register() (read at each use)."""
    return FEATURES + tuple(_extra)


def register(feature: Feature) -> Feature:
    """Add a feature from outside the package; its name must be new."""
    if any(f.name == feature.name for f in active()):
        raise ValueError(f"a feature named '{feature.name}' is already registered")
    _extra.append(feature)
    return feature


def unregister(feature: Feature) -> None:
    _extra.remove(feature)


def named(name: str) -> Feature:
    return next(f for f in active() if f.name == name)


__all__ = ["FEATURES", "Feature", "Job", "Key", "Slot", "Toggle", "active", "named", "register", "unregister"]
