"""Training follows the precision choice (viewer/core/precision.py), with the detection faked both ways."""
import pytest
import torch
from test_train import write_batches_folder

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
