"""--model RUN_FOLDER: step through a training run's epochs ([ and ]) on the frame on screen (pause it with Space
to hold one): the same unit's maps, reconstruction and predictions recomputed with each epoch's weights, the epoch
and its test accuracy in the mode list. Watch strided convolutions learn against fixed pools."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import Feature, Key


@dataclass(frozen=True)
class Epoch:
    epoch: int
    path: Path


class ScrubState:
    def __init__(self, series: list):
        self.series = series                      # core/series.Snapshot, by epoch
        self.index = len(series) - 1              # the run opens at its last epoch


class Scrub(Feature):
    name, title = "scrub", "training epochs"

    def keys(self):
        return (Key(("[",), False, "--model RUN_FOLDER: the previous epoch of the run", lambda s: self.move(s, -1)),
                Key(("]",), False, "--model RUN_FOLDER: the next epoch of the run", lambda s: self.move(s, 1)))

    def initial(self, options):
        return ScrubState(options.get("series") or [])

    def move(self, session, delta: int) -> None:
        st = session.part(self.name)
        if not st.series:
            session.notify("[ and ] step through a training run's epochs: open one with --model RUN_FOLDER")
            return
        st.index = max(0, min(len(st.series) - 1, st.index + delta))
        session.scales.act.reset()
        session.scales.recon.reset()
        session.changed()

    def mode(self, session) -> str:
        st = session.part(self.name)
        if not st.series:
            return ""
        s = st.series[st.index]
        acc = f", {s.test_accuracy:.1%} on test" if s.test_accuracy is not None else ""
        return f"epoch {s.epoch} of {st.series[-1].epoch}{acc}: [ ]"

    def request(self, session, grid):
        st = session.part(self.name)
        if not st.series or session.front != 0:
            return None
        s = st.series[st.index]
        return Epoch(s.epoch, s.path)

    def prepare(self, pipe, req, part: Epoch) -> None:
        """Put the epoch's weights into the model (in place: the replayed forward and the cone see them)."""
        kept = pipe.kept(self.name)
        if kept.get("path") != part.path:
            from ..core.series import Snapshot, load_state
            pipe.model.load_state_dict(load_state(Snapshot(part.epoch, part.path, None)))
            kept["path"] = part.path
            for stale in ("filters", "sanity"):     # what other features copied from the earlier weights
                pipe.cache.pop(stale, None)
