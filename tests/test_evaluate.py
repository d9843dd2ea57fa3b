"""Evaluation command: the ensemble report against an ensemble computed here by hand."""
import re

import torch

from viewer import evaluate, train
from viewer.core.checkpoint import load_checkpoint
from viewer.data import load_cifar10

from test_train import write_batches_folder


def _by_hand(paths, images):
    total = 0
    for p in paths:
        m = load_checkpoint(p)
        mean = torch.tensor(m.meta["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(m.meta["std"]).view(1, 3, 1, 1)
        x = torch.tensor(images).permute(0, 3, 1, 2).float() / 255.0
        with torch.no_grad():
            total = total + torch.softmax(m.model((x - mean) / std), 1)
    return total.argmax(1)


def test_ensemble_report_matches_a_hand_ensemble(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py", per_batch=40)
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    for out, seed in ((a, "0"), (b, "1")):
        assert train.main(["--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "16",
                           "--no-progress", "--seed", seed]) == 0
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(a), "--data", str(data), "--ensemble", str(b)]) == 0
    out = capsys.readouterr().out
    test = load_cifar10(data, train=False).test
    want = int((_by_hand([a, b], test.images).numpy() == test.labels).sum())
    got = re.search(r"ensemble of 2 checkpoints.*accuracy [0-9.]+ \((\d+)/(\d+)\)", out)
    assert got and int(got.group(1)) == want and int(got.group(2)) == len(test.labels)
    assert f"member {b}: accuracy" in out
    assert evaluate.main(["--checkpoint", str(a), "--data", str(data), "--ensemble", str(tmp_path / "x.pt")]) == 2
