"""The resume state of a training run: everything needed to continue it exactly where it stopped."""
from __future__ import annotations

from .config import TrainConfig
from .data import DataError
from .swa import WeightAverage

RESUME_FORMAT = "cnn-viewer-resume"


def resume_state(tr) -> dict:
    """What a Trainer saves after every epoch and on a signal (the model, the optimiser, where it is)."""
    return {"format": RESUME_FORMAT, "config": tr.cfg.__dict__, "epoch": tr.epoch,
            "step_in_epoch": tr.step_in_epoch, "wall": tr.wall, "history": tr.history,
            "model": tr.model.state_dict(), "opt": tr.opt.state_dict(),
            "mean": tr.mean, "std": tr.std, "stages": tr.stages, "swa": tr.swa_avg.state()}


def restore(tr, st: dict) -> None:
    """Put a saved state back into a Trainer built with the same settings (others are refused: it would be
    another run)."""
    if not isinstance(st, dict) or st.get("format") != RESUME_FORMAT:
        raise DataError(f"{tr.state_path}: not a training resume state")
    # a key added since then has its default; states saved before --precision all trained in bf16
    saved = {**TrainConfig().__dict__, "bf16": True, **st["config"]}
    if saved != tr.cfg.__dict__:
        diff = {k: (saved.get(k), v) for k, v in tr.cfg.__dict__.items() if saved.get(k) != v}
        raise DataError(f"{tr.state_path}: saved with other settings {diff}; pass the same options to resume")
    tr.model.load_state_dict(st["model"])
    tr.opt.load_state_dict(st["opt"])
    tr.epoch, tr.step_in_epoch = st["epoch"], st["step_in_epoch"]
    tr.wall, tr.history = st["wall"], list(st["history"])
    tr.mean, tr.std = st["mean"].cpu(), st["std"].cpu()
    tr.stages = list(st.get("stages", []))
    swa = st.get("swa") or {}
    tr.swa_avg = WeightAverage(swa.get("avg"), swa.get("count", 0))
