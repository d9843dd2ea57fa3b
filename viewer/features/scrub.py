"""--model RUN_FOLDER: step through a training run's epochs ([ and ]) on the frame on screen (pause it with Space
to hold one): the same unit's maps, reconstruction and predictions recomputed with each epoch's weights, the epoch
and its test accuracy in the mode list. With --compare RUN_FOLDER2 both runs step together (the second at the
same epoch, or its latest before it): watch strided convolutions learn against fixed pools."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .base import Feature, Key


@dataclass(frozen=True)
class Epoch:
    epoch: int
    paths: tuple[Path | None, ...]    # the snapshot of model 0 (and of model 1 under --compare) for this epoch


class ScrubState:
    def __init__(self, series: list, series_b: list | None = None):
        self.series = series                      # core/series.Snapshot, by epoch
        self.series_b = series_b or []            # the --compare run's, by epoch
        self.index = len(series) - 1              # the run opens at its last epoch

    def partner(self, epoch: int):
        """The second run's snapshot at this epoch, else its latest before it (its first if none is)."""
        before = [s for s in self.series_b if s.epoch <= epoch]
        return before[-1] if before else (self.series_b[0] if self.series_b else None)


class Scrub(Feature):
    name, title = "scrub", "training epochs"
    both_models = True

    def keys(self):
        return (Key(("[",), False, "--model RUN_FOLDER: the previous epoch of the run", lambda s: self.move(s, -1)),
                Key(("]",), False, "--model RUN_FOLDER: the next epoch of the run", lambda s: self.move(s, 1)))

    def initial(self, options):
        return ScrubState(options.get("series") or [], options.get("series_b"))

    def move(self, session, delta: int) -> None:
        st = session.part(self.name)
        if not st.series:
            session.notify("[ and ] step through a training run's epochs: open one with --model RUN_FOLDER")
            return
        st.index = max(0, min(len(st.series) - 1, st.index + delta))
        s = st.series[st.index]
        for i, side in enumerate(session.sides):   # each model's accuracy shown is its epoch's, not the run's end
            snap = s if side.tag == "A" else st.partner(s.epoch)
            if snap is not None and snap.test_accuracy is not None:
                session.sides[i] = replace(side, accuracy=snap.test_accuracy)
        session.scales.act.reset()
        session.scales.recon.reset()
        session.changed()

    def mode(self, session) -> str:
        st = session.part(self.name)
        if not st.series:
            return ""
        s = st.series[st.index]
        acc = f", {s.test_accuracy:.1%} on test" if s.test_accuracy is not None else ""
        b = st.partner(s.epoch)
        other = ""
        if b is not None:
            other = f"; B epoch {b.epoch}" + (f", {b.test_accuracy:.1%}" if b.test_accuracy is not None else "")
        return f"epoch {s.epoch} of {st.series[-1].epoch}{acc}{other}: [ ]"

    def request(self, session, grid):
        st = session.part(self.name)
        if not st.series:
            return None
        s = st.series[st.index]
        b = st.partner(s.epoch)
        return Epoch(s.epoch, (s.path, b.path if b is not None else None))

    def prepare(self, pipe, req, part: Epoch) -> None:
        """Put the epoch's weights into the model that computes req (in place: the replayed forward and the cone
        see them): model 0's snapshot, or under --compare model 1's."""
        path = part.paths[req.model] if req.model < len(part.paths) else None
        kept = pipe.kept(self.name)
        if path is not None and kept.get("path") != path:
            from ..core.series import Snapshot, load_state
            pipe.model.load_state_dict(load_state(Snapshot(part.epoch, path, None)))
            kept["path"] = path
            for stale in ("filters", "sanity"):     # what other features copied from the earlier weights
                pipe.cache.pop(stale, None)
