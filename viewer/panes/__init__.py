"""The window's core panes, drawn in this order by App.draw (the features' own panes go between the unit
panel and the status bar): each is given a PaneView, owns its rectangle, its clicks and its cache."""
from .base import Pane, PaneView
from .grid import GridPane
from .inputs import InputPane
from .status import StatusPane
from .strip import StripPane
from .unit import UnitPane

PANES: tuple[type[Pane], ...] = (StripPane, InputPane, GridPane, UnitPane, StatusPane)

__all__ = ["PANES", "Pane", "PaneView"]
