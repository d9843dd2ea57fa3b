"""The resume state of a training run: everything needed to continue it exactly where it stopped."""
from __future__ import annotations

import dataclasses
import enum

from ..cifar10 import DataError
from .config import TrainConfig
from .swa import WeightAverage

RESUME_FORMAT = "cnn-viewer-resume"


class OtherPrecision(enum.Enum):
    """What restore() does with a state whose settings differ from the Trainer's in bf16 alone."""
    REFUSE = enum.auto()   # an explicit --precision asks for another run
    SWITCH = enum.auto()   # --resume with --precision auto: go on in this machine's choice, recorded
    KEEP = enum.auto()     # --snapshot: nothing is trained; the checkpoint describes the run as saved


def resume_state(tr) -> dict:
    """What a Trainer saves after every epoch and on a signal (the model, the optimiser, where it is)."""
    st = {"format": RESUME_FORMAT, "config": tr.cfg.__dict__, "epoch": tr.epoch,
          "step_in_epoch": tr.step_in_epoch, "wall": tr.wall, "history": tr.history,
          "model": tr.model.state_dict(), "opt": tr.opt.state_dict(),
          "mean": tr.mean, "std": tr.std, "stages": tr.stages, "swa": tr.swa_avg.state()}
    if tr.precision_changes:  # only then: a run that never changed keeps exactly the keys it always had
        st["precision_changes"] = tr.precision_changes
    return st


def restore(tr, st: dict, other_precision: OtherPrecision = OtherPrecision.REFUSE) -> dict | None:
    """Put a saved state back into a Trainer built with the same settings (others are refused: it would be
    another run).

    A state that differs only in bf16 was saved where --precision chose the other precision. KEEP takes the
    saved one back into tr.cfg (a snapshot trains nothing). SWITCH goes on in tr's (bf16 emulated on a CPU
    without it is 40-70x slower), and the rest of the run is then not bit-identical to an uninterrupted
    one; so the change ({"epoch": the epoch it happens in, counted from 1 as in the history, "step", "from",
    "to"}) is kept in tr.precision_changes (saved with the state; the trainer copies it into that epoch's
    history entry) and returned; None when there is none. The weights and the optimiser's state are fp32
    either way (bf16 is autocast only), so they load as they are.
    """
    if not isinstance(st, dict) or st.get("format") != RESUME_FORMAT:
        raise DataError(f"{tr.state_path}: not a training resume state")
    # a key added since then has its default; states saved before --precision all trained in bf16
    saved = {**TrainConfig().__dict__, "bf16": True, **st["config"]}
    wanted = tr.cfg.__dict__
    only_precision = other_precision is not OtherPrecision.REFUSE and {**saved, "bf16": wanted["bf16"]} == wanted
    if saved != wanted and not only_precision:
        diff = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
        raise DataError(f"{tr.state_path}: saved with other settings {diff}; pass the same options to resume")
    tr.model.load_state_dict(st["model"])
    tr.opt.load_state_dict(st["opt"])
    tr.epoch, tr.step_in_epoch = st["epoch"], st["step_in_epoch"]
    tr.wall, tr.history = st["wall"], list(st["history"])
    tr.mean, tr.std = st["mean"].cpu(), st["std"].cpu()
    tr.stages = list(st.get("stages", []))
    tr.precision_changes = list(st.get("precision_changes", []))
    swa = st.get("swa") or {}
    tr.swa_avg = WeightAverage(swa.get("avg"), swa.get("count", 0))
    if saved["bf16"] == wanted["bf16"]:
        return None
    if other_precision is OtherPrecision.KEEP:
        tr.cfg = dataclasses.replace(tr.cfg, bf16=saved["bf16"])
        return None
    label = (lambda bf16: "bf16" if bf16 else "fp32")
    change = {"epoch": tr.epoch + 1, "step": tr.step_in_epoch, "from": label(saved["bf16"]),
              "to": label(wanted["bf16"])}
    tr.precision_changes.append(change)
    return change
