"""--model RUN_FOLDER: a training run's epoch snapshots as one series, stepped with [ and ]; each epoch's
predictions are a plain forward of that snapshot."""
import numpy as np
import pytest
import torch
from helpers import key

from viewer.core.checkpoint import CheckpointError, make_checkpoint
from viewer.core.series import read_series
from viewer.nets import build_model

META = {"classes": [str(i) for i in range(10)], "input_size": [32, 32], "mean": [0.5] * 3, "std": [0.25] * 3}


def write_run(folder, arch="allcnn_c", epochs=(0, 1, 2), seed=0):
    folder.mkdir(exist_ok=True)
    for e in epochs:
        torch.manual_seed(seed + e)
        m = build_model(arch)
        ck = make_checkpoint(m, arch, {}, {**META, "snapshot": True, "epoch": e, "test_accuracy": 0.1 + 0.2 * e})
        ck["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in ck["state_dict"].items()}
        torch.save(ck, folder / f"epoch_{e:03d}.pt")
    return folder


def test_a_run_folder_is_ordered_by_epoch_and_refused_when_it_mixes_runs_or_has_none(tmp_path):
    run = write_run(tmp_path / "run", epochs=(2, 0, 10, 1))
    assert [s.epoch for s in read_series(run)] == [0, 1, 2, 10]
    with pytest.raises(CheckpointError, match="no epoch snapshots"):
        read_series((tmp_path / "empty").mkdir() or tmp_path / "empty")
    write_run(tmp_path / "run", arch="model_c", epochs=(11,))
    with pytest.raises(CheckpointError, match="mix networks"):
        read_series(run)


def test_the_window_steps_through_the_epochs_and_each_is_a_plain_forward_of_its_snapshot(pygame_display, tmp_path):
    from viewer.app import App
    from viewer.cli import UsageError, build, build_compare, parse_args
    from viewer.core.preprocess import to_tensor
    from viewer.sources import DemoSource
    from viewer.worker import Pipeline, Worker
    run = write_run(tmp_path / "run")
    args = parse_args(["--model", str(run)])
    b = build(args)
    with pytest.raises(UsageError, match="two checkpoint files"):
        build_compare(parse_args(["--model", str(run), "--compare", str(run / "epoch_000.pt")]), b)
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=32), worker, b.layers, b.classes, "run",
              sync=True, series=b.meta["series"])
    try:
        app.update()
        key(app, "space")                                   # one frame, held
        assert "epoch 2 of 2, 50.0% on test: [ ]" in app.session.modes()
        for epoch, k in ((1, "["), (0, "["), (0, "["), (1, "]")):
            key(app, k)
            r = app.result
            assert r.request.part("scrub").epoch == epoch
            m = build_model("allcnn_c").eval()              # that snapshot, loaded by hand into a fresh network
            m.load_state_dict(torch.load(run / f"epoch_{epoch:03d}.pt", weights_only=True)["state_dict"])
            with torch.no_grad():
                want = m(to_tensor(r.model_image, b.spec)).softmax(1)[0].numpy()
            assert np.allclose(r.probs, want, atol=1e-5)
    finally:
        worker.shutdown(1.0)


def test_the_shipped_series_is_small_ordered_and_its_last_epoch_is_the_recipe_checkpoint():
    """checkpoints/series/: a few epochs of the family recipe (fp16), <= 15 MB in all; the last snapshot of the
    All-CNN-C series predicts as the shipped recipe checkpoint does (fp16 rounding apart)."""
    from conftest import ROOT

    from viewer.core.checkpoint import load_checkpoint
    folders = sorted(p for p in (ROOT / "checkpoints" / "series").iterdir() if p.is_dir())
    assert folders and sum(f.stat().st_size for d in folders for f in d.iterdir()) <= 15 * 2**20
    for d in folders:
        series = read_series(d)
        assert [s.epoch for s in series] == sorted(s.epoch for s in series) and len(series) >= 3
        assert all(s.test_accuracy is not None for s in series)
    last = read_series(ROOT / "checkpoints" / "series" / "allcnn_c_e15")[-1]
    full = load_checkpoint(ROOT / "checkpoints" / "allcnn_c_e15_cifar10.pt")
    assert last.epoch == full.meta["epochs"] and last.test_accuracy == pytest.approx(full.meta["test_accuracy"], abs=2e-3)
    m = build_model("allcnn_c").eval()
    m.load_state_dict(torch.load(last.path, weights_only=True)["state_dict"])
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (m(x).argmax(1) == full.model.eval()(x).argmax(1)).all()


def test_readme_paths_under_checkpoints_resolve_to_the_installed_package_from_any_folder(tmp_path, monkeypatch):
    from viewer.paths import CHECKPOINTS, shipped
    monkeypatch.chdir(tmp_path)
    assert shipped("checkpoints/model_c_cifar10.pt") == str(CHECKPOINTS / "model_c_cifar10.pt")
    assert shipped("checkpoints/nope.pt") == "checkpoints/nope.pt"          # not shipped: left for its own error
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "model_c_cifar10.pt").write_bytes(b"")
    assert shipped("checkpoints/model_c_cifar10.pt") == "checkpoints/model_c_cifar10.pt"   # the user's own first


def test_two_runs_step_together_under_compare_each_a_plain_forward_of_its_own_snapshot(pygame_display, tmp_path):
    """--model RUN_A --compare RUN_B: [ and ] move both; B at the same epoch, or its latest before it; each
    model's predictions equal a plain forward of its own snapshot (Tab swapped too); a folder beside a file is
    refused in one sentence."""
    from viewer.app import App
    from viewer.cli import UsageError, build, build_compare, parse_args
    from viewer.core.preprocess import to_tensor
    from viewer.session import Side
    from viewer.sources import DemoSource
    from viewer.worker import PairPipeline, Pipeline, Worker
    run_a = write_run(tmp_path / "a", "allcnn_c", epochs=(0, 1, 2))
    run_b = write_run(tmp_path / "b", "model_c", epochs=(0, 2), seed=10)
    args = parse_args(["--model", str(run_a), "--compare", str(run_b)])
    a = build(args)
    b = build_compare(args, a)
    with pytest.raises(UsageError, match="two run folders"):
        build_compare(parse_args(["--model", str(run_a), "--compare", str(run_b / "epoch_000.pt")]), a)
    worker = Worker(PairPipeline(Pipeline(a.model, a.layers, a.spec), Pipeline(b.model, b.layers, b.spec)))
    app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=32), worker, a.layers, a.classes, "a",
              sync=True, compare=Side(b.layers, b.classes, "b", "B", None), series=a.meta["series"],
              series_b=b.meta["series"])

    def plain(arch, run, epoch, image):
        m = build_model(arch).eval()
        m.load_state_dict(torch.load(run / f"epoch_{epoch:03d}.pt", weights_only=True)["state_dict"])
        with torch.no_grad():
            return m(to_tensor(image, a.spec)).softmax(1)[0].numpy()
    try:
        app.update()
        key(app, "space")
        assert "epoch 2 of 2, 50.0% on test; B epoch 2, 50.0%: [ ]" in app.session.modes()
        for epoch_a, epoch_b, k in ((1, 0, "["), (0, 0, "["), (1, 0, "]"), (2, 2, "]")):
            key(app, k)
            r, o = app.result, app.result.part("compare")
            assert r.request.part("scrub").epoch == epoch_a
            assert [sd.accuracy for sd in app.session.sides] == [pytest.approx(0.1 + 0.2 * epoch_a),
                                                                 pytest.approx(0.1 + 0.2 * epoch_b)]
            assert np.allclose(r.probs, plain("allcnn_c", run_a, epoch_a, r.model_image), atol=1e-5)
            assert np.allclose(o.probs, plain("model_c", run_b, epoch_b, o.model_image), atol=1e-5)
        key(app, "[")
        key(app, "tab")                                     # B in front: still each its own snapshot
        r, o = app.result, app.result.part("compare")
        assert r.request.model == 1 and np.allclose(r.probs, plain("model_c", run_b, 0, r.model_image), atol=1e-5)
        assert np.allclose(o.probs, plain("allcnn_c", run_a, 1, o.model_image), atol=1e-5)
    finally:
        worker.shutdown(1.0)
