"""Evaluation command: the ensemble report against an ensemble computed here by hand."""
import re

import torch
from lab_helpers import write_batches_folder

from viewer.core.checkpoint import load_checkpoint, make_checkpoint
from viewer.nets import build_model
from viewer.training import evaluate, train
from viewer.training.data import load_cifar10


def _by_hand(paths, images, flip=False):
    total = 0
    for p in paths:
        m = load_checkpoint(p)
        mean = torch.tensor(m.meta["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(m.meta["std"]).view(1, 3, 1, 1)
        x = (torch.tensor(images).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
        with torch.no_grad():
            total = total + torch.softmax(m.model(x), 1)
            if flip:  # the mirror image: columns reversed
                total = total + torch.softmax(m.model(x[..., torch.arange(x.shape[-1] - 1, -1, -1)]), 1)
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


def _random_checkpoint(path, seed):
    """An untrained All-CNN-C: its outputs depend on the images' left-right layout (a trained one here would
    read only the red plane, which encodes the class and is the same in the mirror image)."""
    torch.manual_seed(seed)
    model = build_model("allcnn_c", num_classes=10, drop_mid=0.0)
    for m in model.modules():  # BatchNorm statistics measured on random images: varied predictions
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        model.train()(torch.randn(64, 3, 32, 32))
    model.eval()
    meta = {"classes": [f"c{i}" for i in range(10)], "mean": [0.5] * 3, "std": [0.25] * 3, "input_size": [32, 32]}
    torch.save(make_checkpoint(model, "allcnn_c", {"num_classes": 10}, meta), path)


def test_flip_averaged_ensemble_matches_a_hand_ensemble(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py", per_batch=100)
    paths = [tmp_path / f"{name}.pt" for name in "abc"]
    for seed, path in enumerate(paths):
        _random_checkpoint(path, seed)
    a, b, c = paths
    assert evaluate.main(["--checkpoint", str(a), "--data", str(data), "--ensemble", str(b), "--ensemble", str(c),
                          "--flip"]) == 0
    out = capsys.readouterr().out
    test = load_cifar10(data, train=False).test
    plain = _by_hand(paths, test.images)
    flipped = _by_hand(paths, test.images, flip=True)
    want, plain_n = int((flipped.numpy() == test.labels).sum()), int((plain.numpy() == test.labels).sum())
    assert want != plain_n  # the two ensembles score differently here, so the check below tells them apart
    got = re.search(r"ensemble of 3 checkpoints, each averaged over the image and its mirror image.*?"
                    r"accuracy [0-9.]+ \((\d+)/(\d+)\)", out, re.S)
    assert got and int(got.group(1)) == want and int(got.group(2)) == len(test.labels)
    got = re.search(r"ensemble of 3 checkpoints \(mean of softmaxes\).*?accuracy [0-9.]+ \((\d+)/", out, re.S)
    assert got and int(got.group(1)) == plain_n
    assert re.search(rf"member {re.escape(str(c))}: accuracy [0-9.]+, [0-9.]+ with flip averaging", out)
