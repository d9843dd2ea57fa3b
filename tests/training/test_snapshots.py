"""Per-epoch fp16 snapshots (viewer/training/snapshots.py): OUT_epochs/epoch_NNN.pt, epoch 0 = the random start."""
import numpy as np
import pytest
import torch
from lab_helpers import write_batches_folder

from viewer.core.checkpoint import load_checkpoint
from viewer.nets import build_model
from viewer.training import train
from viewer.training.data import load_cifar10

# one step an epoch, one thread (on a small shared machine two threads are slower), fp32 (exact logits)
TINY = ["--epochs", "2", "--batch-size", "16", "--train-limit", "16", "--test-limit", "8", "--lr", "0.05",
        "--precision", "fp32", "--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def own_threads():
    """--threads sets torch's thread count for the whole process: give the other tests theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def forward(state: dict, arch: str, arch_args: dict, x: torch.Tensor) -> torch.Tensor:
    """Logits of a freshly built network holding `state` (converted to fp32), in eval mode."""
    model = build_model(arch, **arch_args)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    with torch.no_grad():
        return model.eval()(x)


def test_a_run_keeps_every_epoch_in_fp16_and_the_last_is_the_final_model(tmp_path):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "m.pt"
    assert train.main(["--data", str(data), "--out", str(out), *TINY]) == 0
    folder = tmp_path / "m_epochs"  # the default: OUT's name + _epochs, beside OUT
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_000.pt", "epoch_001.pt", "epoch_002.pt"]
    final = torch.load(out, weights_only=True)
    for epoch in range(3):
        path = folder / f"epoch_{epoch:03d}.pt"
        ck = torch.load(path, weights_only=True)
        assert ck["arch"] == "allcnn_c" and ck["arch_args"] == final["arch_args"]
        floats = [v for v in ck["state_dict"].values() if v.is_floating_point()]
        assert floats and all(v.dtype == torch.float16 for v in floats)
        assert all(v.dtype == torch.int64 for v in ck["state_dict"].values() if not v.is_floating_point())
        meta = ck["meta"]
        assert meta["epoch"] == epoch and meta["planned_epochs"] == 2
        assert 0.0 <= meta["test_accuracy"] <= 1.0 and meta["test_images"] == 8
        assert meta["mean"] == final["meta"]["mean"] and meta["std"] == final["meta"]["std"]
        loaded = load_checkpoint(path)  # the viewer opens it like any checkpoint
        assert loaded.arch == "allcnn_c" and loaded.meta["epoch"] == epoch
    last = torch.load(folder / "epoch_002.pt", weights_only=True)
    assert last["meta"]["test_accuracy"] == final["meta"]["history"][-1]["test_acc_fp32"]
    first = torch.load(folder / "epoch_000.pt", weights_only=True)["state_dict"]
    assert any(not torch.equal(first[k], v) for k, v in last["state_dict"].items())  # training moved them

    # a few test images, normalised by hand: (N, 32, 32, 3) uint8 -> (N, 3, 32, 32)
    images = load_cifar10(data, limit_test=6, train=False).test.images
    mean, std = torch.tensor(final["meta"]["mean"]), torch.tensor(final["meta"]["std"])
    x = ((torch.from_numpy(np.ascontiguousarray(images)).float() / 255 - mean) / std).permute(0, 3, 1, 2)
    want = forward(final["state_dict"], "allcnn_c", final["arch_args"], x)       # the trainer's fp32 weights
    snap = load_checkpoint(folder / "epoch_002.pt").model
    with torch.no_grad():
        got = snap(x)
    # the snapshot is those weights rounded to fp16 (relative error <= 2^-11 each): the same logits up to that
    rounded = forward({k: v.half() if v.is_floating_point() else v for k, v in final["state_dict"].items()},
                      "allcnn_c", final["arch_args"], x)
    torch.testing.assert_close(got, rounded, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
    torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2 * float(want.abs().max()))


def test_epoch_snapshots_none_keeps_none_and_a_folder_is_used_as_given(tmp_path):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    assert train.main(["--data", str(data), "--out", str(tmp_path / "a.pt"), *TINY, "--epochs", "1",
                       "--epoch-snapshots", "none"]) == 0
    assert (tmp_path / "a.pt").exists() and not (tmp_path / "a_epochs").exists()
    assert not list(tmp_path.rglob("epoch_*.pt"))
    mine = tmp_path / "series" / "run1"
    assert train.main(["--data", str(data), "--out", str(tmp_path / "b.pt"), *TINY, "--epochs", "1",
                       "--epoch-snapshots", str(mine)]) == 0
    assert sorted(p.name for p in mine.iterdir()) == ["epoch_000.pt", "epoch_001.pt"]
    assert not (tmp_path / "b_epochs").exists()
