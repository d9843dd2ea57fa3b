"""A training run's per-epoch snapshots (epoch_NNN.pt, written by the trainer, viewer/training/snapshots.py) as one
series the viewer can step through: ordered by epoch, all of one architecture, each read safely."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .checkpoint import FORMAT, CheckpointError, safe_torch_load


@dataclass(frozen=True)
class Snapshot:
    epoch: int
    path: Path
    test_accuracy: float | None


def read_series(folder: Path) -> list[Snapshot]:
    """The folder's snapshots, by epoch; CheckpointError (one sentence) when it holds none, or mixes
    architectures or settings (two runs in one folder)."""
    files = sorted(folder.glob("epoch_*.pt"))
    if not files:
        raise CheckpointError(f"{folder}: a folder, but with no epoch snapshots (epoch_NNN.pt, written by "
                              "python -m viewer.training.train); give a checkpoint file or a run's snapshot folder")
    out, kinds = [], set()
    for f in files:
        ck = safe_torch_load(f)
        meta = ck.get("meta", {}) if isinstance(ck, dict) else {}
        if not isinstance(ck, dict) or ck.get("format") != FORMAT or not meta.get("snapshot"):
            raise CheckpointError(f"{f}: not an epoch snapshot of this tool's trainer")
        kinds.add((ck.get("arch"), repr(sorted(ck.get("arch_args", {}).items()))))
        acc = meta.get("test_accuracy")
        out.append(Snapshot(int(meta.get("epoch", -1)), f, float(acc) if acc is not None else None))
    if len(kinds) > 1:
        raise CheckpointError(f"{folder}: its snapshots mix networks ({', '.join(sorted(k[0] for k in kinds))}); "
                              "keep one run per folder")
    out.sort(key=lambda s: s.epoch)
    if len({s.epoch for s in out}) != len(out):
        raise CheckpointError(f"{folder}: two snapshots claim the same epoch (two runs in one folder?)")
    return out


def load_state(snapshot: Snapshot) -> dict:
    """The snapshot's state dict (fp16 floats; load_state_dict copies them into the model's fp32 tensors)."""
    return safe_torch_load(snapshot.path)["state_dict"]
