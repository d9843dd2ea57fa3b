"""The record a finished (or interim) run writes into its checkpoint's metadata."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import torch

from .distill import describe

STAGE_KEYS = ("epochs", "wall_time_s", "test_accuracy", "command", "date", "train_config", "history")  # one run's record


def run_record(tr, argv: list[str], acc: float, averaged: bool, interim: bool) -> dict:
    """The checkpoint metadata of Trainer tr's run: data, settings, history, the fp32 test accuracy acc,
    the earlier runs its weights went through (--init), and for an interim snapshot how far it got."""
    meta = {
        "classes": list(tr.data.classes), "input_size": [32, 32],
        "mean": [float(v) for v in tr.mean], "std": [float(v) for v in tr.std],
        "epochs": tr.cfg.epochs, "wall_time_s": round(tr.wall, 1), "test_accuracy": acc,
        "test_images": int(len(tr.data.test.images)), "data_sha256": tr.data.sha256,
        "data_source": Path(tr.data.source).name, "date": dt.date.today().isoformat(),
        "command": " ".join(["python -m viewer.training.train", *argv]), "device": str(tr.device),
        "train_config": dict(tr.cfg.__dict__), "history": tr.history,
        "torch": str(torch.__version__),
    }
    if averaged:
        meta["swa"] = {"models_averaged": tr.swa_avg.count, "lr": tr.cfg.swa_lr,
                       "bn_images": int(len(tr.train_x))}
    if tr.cfg.teachers:
        meta["train_config"]["teachers"] = [Path(p).name for p in tr.cfg.teachers]
        meta["teachers"] = describe(tr.teachers) if tr.teachers else [
            {"name": Path(p).name} for p in tr.cfg.teachers]
    if tr.stages:  # --init: the weights went through earlier runs first; count them too
        this = {k: meta[k] for k in STAGE_KEYS}
        meta.update(stages=[*tr.stages, this],
                    epochs=sum(int(st.get("epochs") or 0) for st in tr.stages) + tr.cfg.epochs,
                    wall_time_s=round(sum(float(st.get("wall_time_s") or 0) for st in tr.stages)
                                      + tr.wall, 1))
    if interim:
        steps = f" and {tr.step_in_epoch} steps" if tr.step_in_epoch else ""
        meta.update(epochs=tr.epoch, planned_epochs=tr.cfg.epochs, interim=True,
                    steps_into_next_epoch=tr.step_in_epoch,
                    note=f"snapshot after epoch {tr.epoch}{steps} of {tr.cfg.epochs}; the run is not finished")
    return meta
