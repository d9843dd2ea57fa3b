"""Training command: smoke run, exact resume, and clear errors on bad data, on tiny synthetic data."""
import pickle

import numpy as np
import pytest
import torch
from lab_helpers import ARGS, write_batches_folder

from viewer.core.checkpoint import load_checkpoint
from viewer.training import train
from viewer.training.augment import augment
from viewer.training.data import DataError, load_cifar10


def test_smoke_one_epoch_writes_loadable_checkpoint(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "m.pt"
    assert train.main(["--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "16",
                       "--no-progress"]) == 0
    ck = torch.load(out, weights_only=True)
    meta = ck["meta"]
    for key in ("classes", "mean", "std", "input_size", "epochs", "wall_time_s", "test_accuracy",
                "data_sha256", "date", "command"):
        assert key in meta
    assert meta["epochs"] == 1 and len(meta["history"]) == 1
    assert load_checkpoint(out).arch == "allcnn_c"
    assert "epoch 1/1" in capsys.readouterr().out


def test_resume_gives_the_same_state_as_an_uninterrupted_run(tmp_path):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    straight, resumed = tmp_path / "a.pt", tmp_path / "b.pt"
    assert train.main(["--data", str(data), "--out", str(straight), *ARGS]) == 0
    # 80 images / 16 = 5 steps an epoch; stop after 7 steps (inside epoch 2), then resume
    assert train.main(["--data", str(data), "--out", str(resumed), *ARGS, "--max-steps", "7"]) == 0
    assert not resumed.exists()  # no final checkpoint from a stopped run
    st = torch.load(str(resumed) + ".resume", weights_only=True)
    assert (st["epoch"], st["step_in_epoch"]) == (1, 2)
    assert train.main(["--data", str(data), "--out", str(resumed), *ARGS, "--resume"]) == 0
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "m.pt"
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--max-steps", "2"]) == 0
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--resume", "--lr", "0.3"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_corrupt_npz_is_rejected_with_documented_message(tmp_path, capsys):
    bad = tmp_path / "cifar10-jpeg.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_cifar10(bad)
    out = tmp_path / "m.pt"
    assert train.main(["--data", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "corrupt" in err
    assert not out.exists()


def test_npz_with_undecodable_image(tmp_path):
    jpeg = np.frombuffer(b"not a jpeg at all", np.uint8)
    bad = tmp_path / "c.npz"
    np.savez(bad, train_jpeg=jpeg, train_offsets=np.array([0, len(jpeg)]), train_labels=np.zeros(1, np.uint8),
             test_jpeg=jpeg, test_offsets=np.array([0, len(jpeg)]), test_labels=np.zeros(1, np.uint8))
    with pytest.raises(DataError, match="image 0 is not a decodable 32x32 JPEG"):
        load_cifar10(bad)


def test_wrong_folder_layout_and_missing_data(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert train.main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "not a cifar-10-batches-py folder" in capsys.readouterr().err
    assert train.main(["--data", str(tmp_path / "nothing.npz"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_batch_pickle_that_needs_code_is_refused(tmp_path):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    target = tmp_path / "pwned"
    class Evil:
        def __reduce__(self):
            return (open, (str(target), "w"))
    with open(data / "test_batch", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": [0]}, fh)
    with pytest.raises(DataError, match="refus"):
        load_cifar10(data)
    assert not target.exists()


def test_unwritable_output_path(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    assert train.main(["--data", str(data), "--out", str(tmp_path / "no" / "such" / "m.pt")]) == 2
    assert "output folder does not exist" in capsys.readouterr().err


def test_snapshot_of_a_run_in_progress(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out, snap = tmp_path / "m.pt", tmp_path / "snap.pt"
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--max-steps", "6"]) == 0
    state_before = (tmp_path / "m.pt.resume").read_bytes()
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--snapshot", str(snap)]) == 0
    meta = torch.load(snap, weights_only=True)["meta"]
    assert meta["interim"] is True and meta["epochs"] == 1 and meta["planned_epochs"] == 2
    assert (tmp_path / "m.pt.resume").read_bytes() == state_before and not out.exists()
    assert load_checkpoint(snap).arch == "allcnn_c"


def test_init_continues_from_a_finished_run_and_counts_both(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    assert train.main(["--data", str(data), "--out", str(first), *ARGS]) == 0
    # learning rate 0: SGD leaves every weight where --init put it (only BN running statistics move)
    assert train.main(["--data", str(data), "--out", str(second), "--epochs", "1", "--batch-size", "16",
                       "--no-progress", "--lr", "0", "--init", str(first)]) == 0
    a, b = torch.load(first, weights_only=True), torch.load(second, weights_only=True)
    weights = [k for k in a["state_dict"] if k.endswith("weight") or k.endswith("bias")]
    assert weights and all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in weights)
    assert b["meta"]["epochs"] == 2 + 1 and len(b["meta"]["stages"]) == 2
    assert b["meta"]["stages"][0]["test_accuracy"] == a["meta"]["test_accuracy"]
    assert b["meta"]["mean"] == a["meta"]["mean"]
    assert b["meta"]["wall_time_s"] >= a["meta"]["wall_time_s"]


def test_init_run_resumes_exactly(tmp_path):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    first = tmp_path / "first.pt"
    assert train.main(["--data", str(data), "--out", str(first), "--epochs", "1", "--batch-size", "16",
                       "--no-progress"]) == 0
    more = [*ARGS, "--init", str(first)]
    straight, resumed = tmp_path / "a.pt", tmp_path / "b.pt"
    assert train.main(["--data", str(data), "--out", str(straight), *more]) == 0
    assert train.main(["--data", str(data), "--out", str(resumed), *more, "--max-steps", "3"]) == 0
    first.rename(tmp_path / "gone.pt")  # the resume state carries everything; --init is not read again
    assert train.main(["--data", str(data), "--out", str(resumed), *more, "--resume"]) == 0
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    assert len(b["meta"]["stages"]) == 2


def test_init_refuses_missing_interim_and_foreign_checkpoints(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    run = ["--data", str(data), "--out", str(tmp_path / "m.pt"), *ARGS]
    assert train.main([*run, "--init", str(tmp_path / "none.pt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    assert train.main([*run, "--init", str(tmp_path / "other.pt")]) == 2
    assert "not a checkpoint of this tool's training" in capsys.readouterr().err
    assert train.main([*run, "--max-steps", "6"]) == 0
    assert train.main([*run, "--snapshot", str(tmp_path / "snap.pt")]) == 0
    assert train.main(["--data", str(data), "--out", str(tmp_path / "n.pt"), *ARGS,
                       "--init", str(tmp_path / "snap.pt")]) == 2
    assert "unfinished run" in capsys.readouterr().err
    assert not (tmp_path / "n.pt").exists()


def test_batched_augmentation_equals_cropping_each_image_by_hand():
    from viewer.training.augment import apply, draw
    x = torch.rand(300, 3, 32, 32)
    d = draw(300, torch.Generator().manual_seed(5), cutout=12)
    out = apply(x, d, pad=4, cutout=12)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect")
    for i in range(300):  # the reference: one image at a time, plain slicing
        want = padded[i, :, d.dy[i]:d.dy[i] + 32, d.dx[i]:d.dx[i] + 32]
        want = want.flip(-1) if d.flip[i] else want.clone()
        y0, x0 = int(d.cy[i]), int(d.cx[i])
        want[:, max(y0, 0):max(y0 + 12, 0), max(x0, 0):max(x0 + 12, 0)] = 0.0
        assert torch.equal(out[i], want), i
    assert d.flip.any() and (~d.flip).any() and (d.dy == 0).any() and (d.dx == 8).any()


def test_cutout_blanks_one_clipped_square_and_leaves_the_rest_alone():
    x = torch.rand(2000, 3, 32, 32) + 1.0  # no zeros anywhere before cutout
    plain = augment(x, torch.Generator().manual_seed(3))
    cut = augment(x, torch.Generator().manual_seed(3), cutout=16)
    hole = cut == 0
    assert torch.equal(hole[:, 0], hole[:, 1]) and torch.equal(hole[:, 0], hole[:, 2])  # all channels
    assert torch.equal(cut[~hole], plain[~hole])  # same translation and flip draws as without cutout
    h = hole[:, 0]
    rows, cols = h.any(2), h.any(1)
    nrows, ncols = rows.sum(1), cols.sum(1)
    assert torch.equal(h.sum((1, 2)), nrows * ncols)  # a rectangle ...
    assert (nrows <= 16).all() and (ncols <= 16).all() and (nrows >= 8).all() and (ncols >= 8).all()
    for r in (rows, cols):  # ... of contiguous rows and columns
        idx = torch.arange(32).expand_as(r)
        first = torch.where(r, idx, 99).min(1).values
        last = torch.where(r, idx, -1).max(1).values
        assert torch.equal(last - first + 1, r.sum(1))
    # centre uniform over the 32 x 32 pixels, side 16 clipped at the edges: each side is 16 when the
    # centre is in 8..24 (17 of 32 positions), 8..15 or 9..15 near the edges; mean side 448/32 = 14
    assert abs(h.sum((1, 2)).float().mean().item() - 14 * 14) < 5
    assert abs(((nrows == 16) & (ncols == 16)).float().mean().item() - (17 / 32) ** 2) < 0.04


def test_cutout_option_reaches_training_and_is_recorded(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "c.pt"
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--cutout", "8"]) == 0
    assert torch.load(out, weights_only=True)["meta"]["train_config"]["cutout"] == 8
    # a resume must use the same cutout (--force: start over on the finished run's files)
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--max-steps", "2", "--force"]) == 0
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--cutout", "8", "--resume", "--force"]) == 2
    assert "cutout" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        train.main(["--data", str(data), "--out", str(out), "--cutout", "-3"])
    assert e.value.code == 2


def test_main_gives_the_callers_signal_handlers_back(tmp_path):
    import signal

    def mine(signum, frame):
        pass
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    before = {s: signal.signal(s, mine) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert train.main(["--data", str(data), "--out", str(tmp_path / "m.pt"), *ARGS, "--max-steps", "2"]) == 0
        assert signal.getsignal(signal.SIGINT) is mine and signal.getsignal(signal.SIGTERM) is mine
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def test_training_never_overwrites_what_it_did_not_make(tmp_path, capsys, monkeypatch):
    """Not the shipped model by default, not a finished run's checkpoint or resume state without --force."""
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    monkeypatch.chdir(tmp_path)
    shipped = tmp_path / "checkpoints" / "allcnn_c_cifar10.pt"  # as if run from the repository's root
    shipped.parent.mkdir()
    shipped.write_bytes(b"the shipped model")
    run = ["--data", str(data), "--epochs", "1", "--batch-size", "16", "--no-progress"]
    assert train.main(run) == 0
    assert shipped.read_bytes() == b"the shipped model"
    out = tmp_path / "allcnn_c_trained.pt"
    assert out.exists() and "wrote allcnn_c_trained.pt" in capsys.readouterr().out
    before = out.read_bytes()
    assert train.main(run) == 2                              # a second run would overwrite the first
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    out.unlink()
    assert train.main(run) == 2                              # its resume state is still there: refused too
    assert "--resume" in capsys.readouterr().err
    assert train.main([*run, "--out", str(shipped)]) == 2   # the shipped model only with --force
    assert shipped.read_bytes() == b"the shipped model"
    assert train.main([*run, "--force"]) == 0 and out.exists()
    snap = tmp_path / "snap.pt"
    snap.write_bytes(b"mine")
    assert train.main([*run, "--snapshot", str(snap)]) == 2 and snap.read_bytes() == b"mine"


@pytest.mark.parametrize("arch", ["model_c", "strided_cnn_c"])
def test_the_paper_s_comparison_networks_train_with_the_same_options(tmp_path, arch):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / f"{arch}.pt"
    assert train.main(["--data", str(data), "--out", str(out), "--arch", arch, "--epochs", "1", "--batch-size",
                       "16", "--no-progress", "--drop-mid", "0.3", "--threads", "1"]) == 0
    loaded = load_checkpoint(out)
    assert loaded.arch == arch and type(loaded.model).__name__ == {"model_c": "ModelC",
                                                                   "strided_cnn_c": "StridedCNNC"}[arch]
    assert loaded.meta["train_config"]["arch"] == arch and loaded.meta["train_config"]["drop_mid"] == 0.3


def test_a_long_epoch_saves_its_resume_state_as_it_goes(tmp_path, monkeypatch):
    """--save-every: a run killed mid-epoch (no signal handler runs) loses at most that many minutes."""
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    saves = []
    monkeypatch.setattr(train.Trainer, "save_state", lambda self: saves.append(self.step_in_epoch))
    assert train.main(["--data", str(data), "--out", str(tmp_path / "m.pt"), "--epochs", "1", "--batch-size",
                       "16", "--no-progress", "--save-every", "1e-9"]) == 0
    assert saves == [1, 2, 3, 4, 5, 0]  # after every step (5 an epoch), then at the epoch's end
