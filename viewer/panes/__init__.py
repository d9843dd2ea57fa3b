"""The window's panes, drawn in this order by App.draw: each is given a PaneView and owns its cache.
A new pane is one file here and one line in PANES (and its rectangle in render/layout.py)."""
from .atlas import AtlasPane
from .atlas_strip import AtlasStripPane
from .base import CompareView, Pane, PaneView, Scale
from .compare import ComparePane
from .grid import GridPane
from .inputs import InputPane
from .status import StatusPane
from .strip import StripPane
from .unit import UnitPane

PANES: tuple[type[Pane], ...] = (StripPane, InputPane, AtlasStripPane, GridPane, AtlasPane, UnitPane, ComparePane, StatusPane)

__all__ = ["PANES", "CompareView", "Pane", "PaneView", "Scale"]
