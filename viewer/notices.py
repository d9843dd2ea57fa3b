"""Notices in the status bar: what happened, of what kind, and when (an information fades, an error stays)."""
from __future__ import annotations

import enum
from dataclasses import dataclass

NOTICE_S = 5.0   # how long an information notice stays in the status bar


class Level(enum.Enum):
    INFO = "info"        # done, saved, switched: fades after NOTICE_S
    WARN = "warning"     # something was skipped or refused: fades after NOTICE_S
    ERROR = "error"      # the model failed: stays until a result succeeds


@dataclass(frozen=True)
class Notice:
    text: str
    level: Level
    t: float
