"""Stochastic weight averaging (--swa): the average, the re-measured BatchNorm statistics and the schedule,
each against values computed independently (by hand, or with plain tensor operations)."""
import shutil

import pytest
import torch
import torch.nn.functional as F
from lab_helpers import ARGS, write_batches_folder
from torch import nn

from viewer.training import train
from viewer.training.config import lr_at
from viewer.training.swa import WeightAverage, recompute_bn


def test_average_is_the_arithmetic_mean_of_every_parameter():
    models = [nn.Linear(2, 1) for _ in range(3)]
    for m, v in zip(models, (1.0, 2.0, 6.0)):
        nn.init.constant_(m.weight, v)
        nn.init.constant_(m.bias, -v)
    avg = WeightAverage()
    for m in models:
        avg.add(m)
    out = avg.averaged(models[0])
    assert avg.count == 3
    assert torch.allclose(out.weight, torch.full((1, 2), 3.0)) and torch.allclose(out.bias, torch.tensor([-3.0]))
    assert torch.equal(models[0].weight, torch.ones(1, 2))  # the model it copies is untouched
    again = WeightAverage(**avg.state())  # what a resume state restores
    again.add(models[2])
    assert torch.allclose(again.averaged(models[0]).weight, torch.full((1, 2), (1 + 2 + 6 + 6) / 4))


def test_recompute_bn_measures_the_mean_of_the_batch_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.3), nn.ReLU())
    net[1].running_mean.fill_(7.0)  # stale statistics that must be forgotten
    batches = [torch.randn(5, 3, 6, 6) * (i + 1) + i for i in range(3)]
    assert recompute_bn(net, iter(batches)) == 3
    conv = [F.conv2d(b, net[0].weight, net[0].bias) for b in batches]  # the BN input, computed directly
    mean = torch.stack([c.mean((0, 2, 3)) for c in conv]).mean(0)
    var = torch.stack([c.transpose(0, 1).reshape(4, -1).var(1, unbiased=True) for c in conv]).mean(0)
    assert torch.allclose(net[1].running_mean, mean, atol=1e-5)
    assert torch.allclose(net[1].running_var, var, rtol=1e-4)
    assert net[1].momentum == 0.3 and not net.training


def test_schedule_is_one_cycle_then_constant_swa_lr():
    cfg = train.TrainConfig(epochs=3, lr=1.0, warmup=0.25, swa=1, swa_lr=0.05)
    cycle = 8  # two epochs of 4 steps: up over 2 steps, down over 6
    got = [lr_at(s, cycle, cfg) for s in range(12)]
    want = [0.1, 0.55, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.05, 0.05, 0.05, 0.05]
    assert got == pytest.approx(want)


def test_swa_run_averages_the_last_epochs_and_resumes_exactly(tmp_path):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    args = [*ARGS[:1], "3", *ARGS[2:], "--swa", "2", "--swa-lr", "0.05"]  # 3 epochs of 5 steps
    out = tmp_path / "swa.pt"
    state = tmp_path / "swa.pt.resume"
    assert train.main(["--data", str(data), "--out", str(out), *args, "--max-steps", "10"]) == 0
    shutil.copy(state, tmp_path / "after2")  # the weights at the end of epoch 2 (the first averaged one)
    assert train.main(["--data", str(data), "--out", str(out), *args, "--resume"]) == 0
    w2 = torch.load(tmp_path / "after2", weights_only=True)["model"]
    w3 = torch.load(state, weights_only=True)["model"]  # the state saved at the end of epoch 3
    ck = torch.load(out, weights_only=True)
    assert ck["meta"]["swa"]["models_averaged"] == 2
    params = [k for k in w3 if k.endswith("weight") or k.endswith("bias")]
    assert params
    for k in params:
        assert torch.allclose(ck["state_dict"][k], (w2[k] + w3[k]) / 2, atol=1e-6), k
    assert any(not torch.equal(w2[k], w3[k]) for k in params)  # the average is not trivially one of them
    last = ck["meta"]["history"][-1]  # the averaged network's per-epoch look, in training's precision
    assert ("swa_test_acc_bf16" if ck["meta"]["train_config"]["bf16"] else "swa_test_acc_fp32") in last
    # an uninterrupted run and one stopped inside the averaged epochs give the same checkpoint
    other = tmp_path / "other.pt"
    assert train.main(["--data", str(data), "--out", str(other), *args, "--max-steps", "12"]) == 0
    assert train.main(["--data", str(data), "--out", str(other), *args, "--resume"]) == 0
    b = torch.load(other, weights_only=True)["state_dict"]
    for k, v in ck["state_dict"].items():
        assert torch.equal(v, b[k]), k


def test_swa_longer_than_the_run_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        train.main(["--out", str(tmp_path / "m.pt"), "--epochs", "2", "--swa", "3"])
    assert e.value.code == 2 and "--swa must be" in capsys.readouterr().err


def test_bn_images_are_a_random_draw_over_the_whole_training_set(tmp_path):
    """Data sorted by class (as cifar10-jpeg.npz is) must not give one class's statistics."""
    from pathlib import Path

    from viewer.training.data import load_cifar10
    data = load_cifar10(write_batches_folder(tmp_path / "cifar-10-batches-py", per_batch=40))
    order = data.train.labels.argsort(kind="stable")
    data.train.images[:], data.train.labels[:] = data.train.images[order], data.train.labels[order]
    tr = train.Trainer(train.TrainConfig(swa=1), data, torch.device("cpu"), Path(tmp_path / "m.pt"),
                       Path(tmp_path / "s"))
    some = tr.bn_order(limit=50)
    assert len(some) == 50 == len(set(some.tolist()))
    assert len(set(data.train.labels[some].tolist())) >= 8  # the first 50 sorted images hold about two classes
    assert sorted(tr.bn_order().tolist()) == list(range(200))  # no limit: every image once
    assert sum(len(x) for x in tr.bn_batches(limit=50)) == 50
