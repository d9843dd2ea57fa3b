"""Training follows the precision choice (viewer/core/precision.py), with the detection faked both ways."""
import pytest
import torch
from lab_helpers import write_batches_folder

from viewer.core.precision import CpuBf16, choose_precision
from viewer.training import train


@pytest.mark.parametrize("native", [True, False])
def test_training_follows_the_choice_and_a_resume_keeps_it(monkeypatch, tmp_path, capsys, native):
    """auto trains in bf16 on a native CPU and in fp32 on an emulating one (the detection faked), records it,
    and a resume under another precision is refused (it would be another run)."""
    monkeypatch.setattr(train, "choose_precision", lambda req, dev: choose_precision(
        req, dev, flags=lambda: CpuBf16(native, "faked"), speedup=lambda d: 2.0))
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "m.pt"
    args = ["--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "8", "--train-limit", "16",
            "--test-limit", "8", "--no-progress"]
    assert train.main([*args, "--max-steps", "1"]) == 0
    assert f"precision: {'bf16' if native else 'fp32'} (auto)" in capsys.readouterr().out
    other = "fp32" if native else "bf16"
    assert train.main([*args, "--resume", "--precision", other]) == 2
    assert "bf16" in capsys.readouterr().err
    assert train.main([*args, "--resume"]) == 0
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["train_config"]["bf16"] is native
    assert ("test_acc_bf16" if native else "test_acc_fp32") in meta["history"][-1]


@pytest.mark.parametrize("saved_native", [True, False])
def test_a_resume_where_auto_chooses_the_other_precision_continues_and_says_so(monkeypatch, tmp_path, capsys,
                                                                                saved_native):
    """A run saved in bf16 resumed with --precision auto on a machine without native bf16 (or the reverse)
    goes on in this machine's precision: one line says so, and the epoch it happened in records it, also
    when the run is stopped again before that epoch ends. A --snapshot meanwhile describes the run as saved.
    (An explicit other --precision is still refused: the test above.)"""
    def machine(native):
        monkeypatch.setattr(train, "choose_precision", lambda req, dev: choose_precision(
            req, dev, flags=lambda: CpuBf16(native, "faked"), speedup=lambda d: 2.0))
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "m.pt"
    # 16 images / 4 = 4 steps an epoch
    args = ["--data", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "4", "--train-limit", "16",
            "--test-limit", "8", "--epoch-snapshots", "none", "--no-progress"]
    machine(saved_native)
    assert train.main([*args, "--max-steps", "5"]) == 0                  # epoch 2, step 1
    state = torch.load(str(out) + ".resume", weights_only=True)
    assert set(state) == {"format", "config", "epoch", "step_in_epoch", "wall", "history", "model", "opt",
                          "mean", "std", "stages", "swa"}                 # no precision change: the old keys
    capsys.readouterr()
    was, now = ("bf16", "fp32") if saved_native else ("fp32", "bf16")
    machine(not saved_native)
    snap = tmp_path / "snap.pt"                                          # trains nothing: the run as saved
    assert train.main([*args, "--snapshot", str(snap)]) == 0
    assert torch.load(snap, weights_only=True)["meta"]["train_config"]["bf16"] is saved_native
    assert "precision_changes" not in torch.load(str(out) + ".resume", weights_only=True)
    assert train.main([*args, "--resume", "--max-steps", "1"]) == 0      # switched, then stopped again
    lines = capsys.readouterr().out.splitlines()
    said = [line for line in lines if line.startswith(f"resuming a run saved in {was} in {now}")]
    assert len(said) == 1 and "not bit-identical" in said[0]
    change = {"epoch": 2, "step": 1, "from": was, "to": now}
    assert torch.load(str(out) + ".resume", weights_only=True)["precision_changes"] == [change]
    assert train.main([*args, "--resume"]) == 0                          # same machine: nothing more to say
    assert "resuming a run saved in" not in capsys.readouterr().out
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["train_config"]["bf16"] is (not saved_native)
    first, second = meta["history"]
    assert "precision_changes" not in first and f"test_acc_{was}" in first
    assert second["precision_changes"] == [change] and f"test_acc_{now}" in second
