"""--teacher-views: augmentation draws applied against crops written out by hand, the stored targets against
the teacher run directly on hand-built views, and the command end to end (teachers run V times in all, an
interrupted precomputation continues to the same student, the file is reused)."""
import os
import signal

import pytest
import torch
import torch.nn.functional as F
from lab_helpers import ARGS, write_batches_folder, teacher_file as _teacher_file

from viewer.training import teacher_views, train, trainer
from viewer.training.augment import Draws, apply
from viewer.training.distill import load_teacher
from viewer.training.teacher_views import TeacherViews


def test_apply_crops_flips_and_cuts_as_drawn():
    x = torch.arange(2 * 8 * 8, dtype=torch.float32).view(1, 2, 8, 8)
    one = (lambda v: torch.tensor([v]))
    same = apply(x, Draws(one(2), one(2), one(False)), pad=2)
    assert torch.equal(same, x)
    assert torch.equal(apply(x, Draws(one(2), one(2), one(True)), pad=2), x.flip(-1))
    down = apply(x, Draws(one(0), one(2), one(False)), pad=2)  # shifted down by 2, reflected at the top
    assert torch.equal(down[..., 2:, :], x[..., :6, :])
    assert torch.equal(down[..., 0, :], x[..., 2, :]) and torch.equal(down[..., 1, :], x[..., 1, :])
    cut = apply(x + 1, Draws(one(2), one(2), one(False), one(-1), one(3)), pad=2, cutout=3)
    hole = torch.zeros(8, 8, dtype=torch.bool)
    hole[0:2, 3:6] = True  # rows -1..1 clipped to 0..1, columns 3..5
    assert (cut[0][:, hole] == 0).all() and torch.equal(cut[0][:, ~hole], (x + 1)[0][:, ~hole])


def _by_hand(img, dy, dx, flip, cy, cx, pad, cutout):
    """One view of one (c, h, w) image: reflect-pad, crop, flip, cut, written out without `apply`."""
    c, h, w = img.shape
    padded = F.pad(img[None], (pad,) * 4, mode="reflect")[0]
    out = padded[:, dy:dy + h, dx:dx + w].clone()
    if flip:
        out = out[:, :, torch.arange(w - 1, -1, -1)]
    for y in range(max(cy, 0), min(cy + cutout, h)):
        for x in range(max(cx, 0), min(cx + cutout, w)):
            out[:, y, x] = 0.0
    return out


def test_stored_targets_are_the_teacher_on_the_stored_views(tmp_path):
    mean, std = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
    model = _teacher_file(tmp_path / "t.pt", mean, std)
    teacher = load_teacher(tmp_path / "t.pt", torch.tensor(mean), torch.tensor(std), 10, torch.device("cpu"))
    images = torch.randn(6, 3, 32, 32)
    views = TeacherViews(3, 6, seed=11, key={}, cutout=8)
    assert TeacherViews(3, 6, seed=11, key={}, cutout=8).draws.dy.tolist() == views.draws.dy.tolist()
    while views.done < 3:
        views.compute_next([teacher], lambda idx: images[idx], temperature=2.0, device=torch.device("cpu"),
                           batch=4)
    d = views.draws
    assert len({tuple(d.dx[v].tolist()) + tuple(d.dy[v].tolist()) for v in range(3)}) == 3  # distinct views
    for v in range(3):
        for i in range(6):
            hand = _by_hand(images[i], int(d.dy[v, i]), int(d.dx[v, i]), bool(d.flip[v, i]), int(d.cy[v, i]),
                            int(d.cx[v, i]), 4, 8)
            with torch.no_grad():
                want = torch.softmax(model(hand[None]) / 2.0, 1)[0]
            assert torch.allclose(views.probs[v, i].float(), want, atol=2e-2), (v, i)  # bf16 teacher, fp16 store
    # a student batch: each image as one of its views, with that view's stored targets
    idx = torch.tensor([4, 0, 5])
    x, target = views.batch(images[idx], idx, torch.Generator().manual_seed(3))
    chosen = torch.randint(0, 3, (3,), generator=torch.Generator().manual_seed(3))
    for j, (i, v) in enumerate(zip(idx.tolist(), chosen.tolist())):
        hand = _by_hand(images[i], int(d.dy[v, i]), int(d.dx[v, i]), bool(d.flip[v, i]), int(d.cy[v, i]),
                        int(d.cx[v, i]), 4, 8)
        assert torch.equal(x[j], hand) and torch.equal(target[j], views.probs[v, i].float())


def test_teachers_run_v_times_and_an_interrupted_precomputation_gives_the_same_student(tmp_path, capsys,
                                                                                     monkeypatch):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    teacher = tmp_path / "teacher.pt"
    assert train.main(["--data", str(data), "--out", str(teacher), "--epochs", "1", "--batch-size", "16",
                       "--no-progress"]) == 0
    calls = {"views": 0, "online": 0}
    real = teacher_views.teacher_probs

    def counted(where):
        def probs(*a, **k):
            calls[where] += 1
            return real(*a, **k)
        return probs
    monkeypatch.setattr(teacher_views, "teacher_probs", counted("views"))
    monkeypatch.setattr(trainer, "teacher_probs", counted("online"))
    run = [*ARGS, "--teacher", str(teacher), "--teacher-views", "3", "--cutout", "8"]
    straight, resumed = tmp_path / "a.pt", tmp_path / "b.pt"
    assert train.main(["--data", str(data), "--out", str(straight), *run]) == 0
    # 80 training images, one teacher batch per view, 2 epochs of 5 steps: the teacher ran 3 times in all
    assert calls == {"views": 3, "online": 0}
    assert (tmp_path / "a.pt.resume.views").exists()
    assert torch.load(straight, weights_only=True)["meta"]["train_config"]["teacher_views"] == 3

    real_next = TeacherViews.compute_next

    def then_stop(self, *a, **k):  # a SIGTERM arrives during the first view
        real_next(self, *a, **k)
        os.kill(os.getpid(), signal.SIGTERM)
    monkeypatch.setattr(TeacherViews, "compute_next", then_stop)
    assert train.main(["--data", str(data), "--out", str(resumed), *run]) == 0
    assert not resumed.exists()
    assert "teacher views: 1/3" in capsys.readouterr().out
    monkeypatch.setattr(TeacherViews, "compute_next", real_next)
    assert train.main(["--data", str(data), "--out", str(resumed), *run, "--resume"]) == 0
    assert "teacher views: 1/3 from" in capsys.readouterr().out
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    # a fresh run with the same settings reuses the finished file; another temperature does not
    calls.update(views=0)
    assert train.main(["--data", str(data), "--out", str(resumed), *run, "--force"]) == 0
    assert "teacher views: 3/3 from" in capsys.readouterr().out and calls["views"] == 0
    assert train.main(["--data", str(data), "--out", str(resumed), *run, "--distill-temp", "2", "--force"]) == 0
    assert calls["views"] == 3
    assert train.main(["--data", str(data), "--out", str(resumed), *run, "--teacher-flip", "--force"]) == 0
    assert calls["views"] == 6
    # views change training: online distillation with the same seed gives other weights
    online = tmp_path / "online.pt"
    assert train.main(["--data", str(data), "--out", str(online), *run[:-4], "--cutout", "8"]) == 0
    c = torch.load(online, weights_only=True)["state_dict"]
    assert any(not torch.equal(v, c[k]) for k, v in a["state_dict"].items() if v.is_floating_point())


@pytest.mark.parametrize("extra, named", [(["--teacher-views", "4"], "--teacher-views"),
                                          (["--teacher", "t.pt", "--teacher-views", "-1"], "--teacher-views"),
                                          (["--teacher-flip"], "--teacher-flip")])
def test_teacher_views_and_flip_option_errors(tmp_path, capsys, extra, named):
    with pytest.raises(SystemExit) as e:
        train.main(["--out", str(tmp_path / "m.pt"), *extra])
    assert e.value.code == 2 and named in capsys.readouterr().err


def test_a_views_file_that_cannot_be_used_says_why(tmp_path):
    views = TeacherViews(2, 4, seed=1, key={"temperature": 4.0}, cutout=0)
    path = tmp_path / "run.resume.views"
    assert views.load(path) == ""                                   # no file: nothing to say
    path.write_bytes(b"not a torch file")
    assert "could not be read" in views.load(path) and views.done == 0
    torch.save({"key": {**views.key, "temperature": 2.0}, "done": 2, "probs": torch.zeros(2, 4, 10)}, path)
    assert "other settings" in views.load(path) and views.done == 0
    torch.save({"key": views.key, "done": 1, "probs": torch.ones(2, 4, 10)}, path)
    assert views.load(path) == "" and views.done == 1
