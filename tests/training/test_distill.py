"""Distillation (train --teacher): the loss against a hand computation, teacher input re-normalisation
against normalising the raw images directly, and the command end to end (metadata, exact resume, errors)."""
import hashlib
import math

import pytest
import torch
from lab_helpers import ARGS, teacher_file as _teacher_file, write_batches_folder

from viewer.nets import build_model
from viewer.training import train
from viewer.training.distill import distill_loss, load_teacher, teacher_probs


def test_distill_loss_matches_a_hand_computation():
    s = torch.tensor([[2.0, 0.0, -1.0]])
    p = torch.tensor([[0.5, 0.3, 0.2]])
    y = torch.tensor([0])
    T, alpha = 2.0, 0.75
    # by hand: q = softmax(s / T); KL(p || q) = sum p (log p - log q); CE = -log softmax(s)[0]
    z = [math.exp(v / T) for v in (2.0, 0.0, -1.0)]
    q = [v / sum(z) for v in z]
    kl = sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip((0.5, 0.3, 0.2), q))
    e = [math.exp(v) for v in (2.0, 0.0, -1.0)]
    ce = -math.log(e[0] / sum(e))
    want = (1 - alpha) * ce + alpha * T * T * kl
    got = float(distill_loss(s, p, y, alpha, T, label_smoothing=0.0))
    assert abs(got - want) < 1e-6
    # alpha 0 is plain cross-entropy; a student that already matches the teacher has no soft loss
    assert abs(float(distill_loss(s, p, y, 0.0, T, 0.0)) - ce) < 1e-6
    assert abs(float(distill_loss(s, torch.softmax(s / T, 1), y, 1.0, T, 0.0))) < 1e-6


def test_teacher_sees_the_image_in_its_own_normalisation(tmp_path):
    t_mean, t_std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    model = _teacher_file(tmp_path / "t.pt", t_mean, t_std)
    s_mean, s_std = torch.tensor([0.5, 0.45, 0.4]), torch.tensor([0.22, 0.21, 0.26])
    teacher = load_teacher(tmp_path / "t.pt", s_mean, s_std, 10, torch.device("cpu"))
    raw = torch.rand(4, 3, 32, 32)
    x_student = (raw - s_mean.view(1, 3, 1, 1)) / s_std.view(1, 3, 1, 1)
    x_teacher = (raw - torch.tensor(t_mean).view(1, 3, 1, 1)) / torch.tensor(t_std).view(1, 3, 1, 1)
    got = teacher_probs([teacher], x_student, temperature=3.0)
    with torch.no_grad():
        want = torch.softmax(model(x_teacher) / 3.0, 1)
    assert torch.allclose(got, want, atol=2e-2)  # bf16 autocast inside teacher_probs
    assert torch.allclose(got.sum(1), torch.ones(4), atol=1e-5)
    # flip: the mean over the image and its mirror image
    with torch.no_grad():
        mirrored = torch.softmax(model(x_teacher.flip(-1)) / 3.0, 1)
    assert torch.allclose(teacher_probs([teacher], x_student, 3.0, flip=True), (want + mirrored) / 2, atol=2e-2)
    # two copies of one teacher average to the same distribution
    assert torch.allclose(teacher_probs([teacher, teacher], x_student, 3.0), got, atol=1e-6)
    assert teacher.sha256 == hashlib.sha256((tmp_path / "t.pt").read_bytes()).hexdigest()


def test_training_with_a_teacher_records_it_and_resumes_exactly(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    teacher = tmp_path / "teacher.pt"
    assert train.main(["--data", str(data), "--out", str(teacher), "--epochs", "1", "--batch-size", "16",
                       "--no-progress"]) == 0
    run = [*ARGS, "--teacher", str(teacher), "--teacher", str(teacher), "--distill-alpha", "0.7"]
    straight, resumed = tmp_path / "a.pt", tmp_path / "b.pt"
    assert train.main(["--data", str(data), "--out", str(straight), *run]) == 0
    assert "teachers: teacher.pt" in capsys.readouterr().out
    assert train.main(["--data", str(data), "--out", str(resumed), *run, "--max-steps", "7"]) == 0
    assert train.main(["--data", str(data), "--out", str(resumed), *run, "--resume"]) == 0
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    meta = b["meta"]
    assert meta["train_config"]["distill_alpha"] == 0.7
    assert [t["name"] for t in meta["teachers"]] == ["teacher.pt", "teacher.pt"]
    assert meta["teachers"][0]["sha256"] == hashlib.sha256(teacher.read_bytes()).hexdigest()
    # the teacher changes training: without it the same seed gives other weights
    plain = tmp_path / "plain.pt"
    assert train.main(["--data", str(data), "--out", str(plain), *ARGS]) == 0
    c = torch.load(plain, weights_only=True)["state_dict"]
    assert any(not torch.equal(v, c[k]) for k, v in a["state_dict"].items() if v.is_floating_point())
    # resuming without the teacher is refused (--force: start over on the finished run's files)
    assert train.main(["--data", str(data), "--out", str(resumed), *run, "--max-steps", "2", "--force"]) == 0
    assert train.main(["--data", str(data), "--out", str(resumed), *ARGS, "--resume", "--force"]) == 2
    assert "teachers" in capsys.readouterr().err


def test_bad_teachers_are_refused_in_one_sentence(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "m.pt"
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--teacher", str(tmp_path / "no.pt")]) == 2
    assert "no such teacher checkpoint" in capsys.readouterr().err
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--teacher", str(tmp_path / "other.pt")]) == 2
    assert "not a checkpoint of this tool's training" in capsys.readouterr().err
    assert not out.exists()


def test_airbench_parameter_count_by_hand():
    stem = 3 * 24 * 2 * 2 + 24                      # 2x2 conv with bias
    def group(cin, cout):                           # two bias-free 3x3 convs, two BatchNorms
        return cin * cout * 9 + cout * cout * 9 + 4 * cout
    fc = 256 * 10                                   # no bias
    want = stem + group(24, 64) + group(64, 256) + group(256, 256) + fc
    model = build_model("airbench")
    assert sum(p.numel() for p in model.parameters()) == want
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_an_airbench_teacher_trains_and_teaches_all_cnn_c(tmp_path, capsys):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    teacher, student = tmp_path / "ab.pt", tmp_path / "student.pt"
    assert train.main(["--data", str(data), "--out", str(teacher), *ARGS, "--arch", "airbench"]) == 0
    ck = torch.load(teacher, weights_only=True)
    assert ck["arch"] == "airbench" and ck["meta"]["train_config"]["arch"] == "airbench"
    assert train.main(["--data", str(data), "--out", str(student), *ARGS, "--teacher", str(teacher)]) == 0
    st = torch.load(student, weights_only=True)
    assert st["arch"] == "allcnn_c" and st["meta"]["teachers"][0]["name"] == "ab.pt"
    # --init must match the network being trained; All-CNN-C-only options are refused for airbench
    assert train.main(["--data", str(data), "--out", str(tmp_path / "x.pt"), *ARGS, "--init", str(teacher)]) == 2
    assert "is an airbench network, not the allcnn_c" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--data", str(data), "--out", str(tmp_path / "x.pt"), *ARGS, "--arch", "airbench", "--no-bn"])
    assert "apply to the paper's networks only" in capsys.readouterr().err
