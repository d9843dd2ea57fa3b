"""The launcher end to end: smoke runs with the real worker thread, export, and command-line errors."""
import json
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT
from helpers import write_video

import run_viewer
from viewer.cli import build, parse_args
from viewer.worker import Pipeline, Request, Worker


def run(argv, capsys):
    rc = run_viewer.main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_smoke_demo_source_threaded(random_checkpoint, capsys):
    before = threading.active_count()
    rc, _, err = run(["--model", str(random_checkpoint), "--source", "demo", "--max-frames", "60", "--fps", "0",
                      "--worker", "thread"], capsys)
    assert rc == 0, err
    assert threading.active_count() == before  # worker joined


def test_smoke_demo_source_with_the_model_in_its_own_process(random_checkpoint, capsys):
    import multiprocessing
    rc, _, err = run(["--model", str(random_checkpoint), "--source", "demo", "--max-frames", "60", "--fps", "0",
                      "--worker", "process"], capsys)
    assert rc == 0, err
    assert not multiprocessing.active_children()   # the model's process ended with the window


def test_by_default_the_model_runs_in_its_own_process_on_the_cpu(random_checkpoint, capsys, monkeypatch):
    import viewer.process_worker as pw
    made, real = [], pw.ProcessWorker.__init__
    monkeypatch.setattr(pw.ProcessWorker, "__init__", lambda self, recipe: (made.append(recipe), real(self, recipe))[1])
    rc, _, err = run(["--model", str(random_checkpoint), "--source", "demo", "--max-frames", "20", "--fps", "0"],
                     capsys)
    assert rc == 0, err
    assert len(made) == 1


def test_smoke_video_source(random_checkpoint, tmp_path, capsys):
    video = write_video(tmp_path / "clip.avi", n=20)
    rc, _, err = run(["--model", str(random_checkpoint), "--source", str(video), "--max-frames", "100",
                      "--fps", "0", "--layer", "conv2", "--method", "deconvnet", "--worker", "thread"], capsys)
    assert rc == 0, err


def test_worker_latest_wins_and_shutdown_joins(random_checkpoint):
    b = build(parse_args(["--model", str(random_checkpoint)]))
    w = Worker(Pipeline(b.model, b.layers, b.spec))
    frame = np.zeros((32, 32, 3), np.uint8)
    for i in range(50):
        w.submit(Request(frame, i, "conv6", None, seq=i))
    assert w.wait_idle(30)  # returns as soon as idle; generous for a loaded machine
    assert w.latest().request.seq == 49
    assert w.completed < 50  # stale requests were dropped, not queued
    w.submit(Request(frame, 0, "conv6", None, seq=99))
    assert w.shutdown(1.0)


def test_export_writes_its_files(random_checkpoint, tmp_path, capsys):
    img = tmp_path / "in.png"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    out = tmp_path / "out"
    rc, stdout, err = run(["--model", str(random_checkpoint), "--export", str(out), "--source", str(img),
                           "--layer", "conv4", "--units", "3", "7@2,5", "class"], capsys)
    assert rc == 0, err
    info = json.loads((out / "result.json").read_text())
    assert info["layer"] == "conv4" and len(info["predictions"]) == 5
    assert info["precision"] in ("fp32", "bf16")  # what --precision auto chose on this machine
    # the top 5 of the model's own softmax on that image, computed here without the viewer's pipeline
    from viewer.core.checkpoint import load_checkpoint
    loaded = load_checkpoint(random_checkpoint)
    rgb = cv2.imread(str(img))[:, :, ::-1]
    crop = torch.from_numpy(rgb[:, 10:60].copy()).permute(2, 0, 1)[None].float()   # centre 50x50 of 50x70
    x = torch.nn.functional.interpolate(crop, size=(32, 32), mode="area").round() / 255.0
    x = (x - torch.tensor(loaded.meta["mean"]).view(1, 3, 1, 1)) / torch.tensor(loaded.meta["std"]).view(1, 3, 1, 1)
    acts = {}
    hook = loaded.model.conv4.register_forward_hook(lambda m, i, o: acts.__setitem__("conv4", o))
    with torch.no_grad():
        want = loaded.model.eval()(x)[0].softmax(0)
    hook.remove()
    top = want.argsort(descending=True)[:5]
    assert [p["index"] for p in info["predictions"]] == top.tolist()
    assert np.allclose([p["probability"] for p in info["predictions"]], want[top].numpy(), atol=1e-5)
    assert [(u["layer"], u["channel"]) for u in info["units"]][:2] == [("conv4", 3), ("conv4", 7)]
    assert (info["units"][1]["y"], info["units"][1]["x"]) == (2, 5)
    assert info["units"][2]["layer"] == "logits"
    for u in info["units"]:
        png, _, raw = u["files"]
        assert cv2.imread(str(out / png)) is not None and raw.endswith(".npy")
        recon = np.load(out / raw)          # the raw values; the PNG is them drawn signed at their robust scale
        assert recon.shape == (3, 32, 32) and recon.dtype == np.float32
        from viewer.export import _upscale
        from viewer.render import images
        drawn = _upscale(images.signed_rgb(recon, images.robust_scale(recon)))
        assert np.array_equal(cv2.imread(str(out / png))[:, :, ::-1], drawn)
    assert cv2.imread(str(out / "feature_maps.png")) is not None
    assert cv2.imread(str(out / "model_input.png")).shape[:2] == (256, 256)
    rc, _, err = run(["--model", str(random_checkpoint), "--export", str(out), "--source", str(img),
                      "--precision", "fp32", "--layer", "conv4"], capsys)
    assert rc == 0 and json.loads((out / "result.json").read_text())["precision"] == "fp32"
    assert np.allclose(np.load(out / "feature_maps.npy"), acts["conv4"][0].numpy(), atol=1e-6)   # the raw maps


def test_export_folder(random_checkpoint, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"im{i}.png"), np.full((40, 40, 3), 60 * i, np.uint8))
    rc, _, err = run(["--model", str(random_checkpoint), "--export", str(tmp_path / "o"), "--source", str(folder)],
                     capsys)
    assert rc == 0, err
    assert (tmp_path / "o" / "im0" / "result.json").exists() and (tmp_path / "o" / "im1" / "result.json").exists()
    assert len(json.loads((tmp_path / "o" / "im0" / "result.json").read_text())["units"]) == 8


@pytest.mark.parametrize("argv, message", [
    (["--source", "/no/such/file.png"], "no such file or folder"),
    (["--source", "webcam:57"], "no camera could be opened"),
    (["--layer", "conv99", "--source", "demo"], "unknown layer 'conv99'"),
    (["--model", "/no/model.pt"], "no such file"),
    (["--model", "nomodule.sub:make"], "cannot import module"),
    (["--window", "big", "--source", "demo"], "WIDTHxHEIGHT"),
    (["--export", "OUT"], "needs --source"),
    (["--export", "OUT", "--source", "demo"], "takes an image or a folder"),
    (["--input-size", "3"], "between 8 and 1024"),
])
def test_command_line_errors_are_one_sentence_exit_2(argv, message, random_checkpoint, tmp_path, capsys):
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    if "--model" not in argv:
        argv = ["--model", str(random_checkpoint)] + argv
    rc, _, err = run(argv, capsys)
    assert rc == 2
    assert message in err and err.startswith("error: ") and err.count("\n") == 1


def test_export_bad_files(random_checkpoint, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    rc, _, err = run(["--model", str(random_checkpoint), "--export", str(tmp_path / "o"), "--source", str(bad)], capsys)
    assert rc == 2 and "not a readable image" in err
    (tmp_path / "empty").mkdir()
    rc, _, err = run(["--model", str(random_checkpoint), "--export", str(tmp_path / "o"),
                      "--source", str(tmp_path / "empty")], capsys)
    assert rc == 2 and "holds no images" in err
    rc, _, err = run(["--model", str(random_checkpoint), "--export", str(tmp_path / "o"), "--source",
                      str(write_video(tmp_path / "v.avi"))], capsys)
    assert rc == 2 and "image or a folder" in err


def test_help_explains_itself():
    out = subprocess.run([sys.executable, "run_viewer.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0
    for word in ("--source", "webcam", "demo", "--model", "--export", "guided", "examples"):
        assert word in out.stdout


@pytest.mark.parametrize("worker", ["thread", "process"])
def test_closing_the_window_while_the_model_is_mid_step_ends_the_process_cleanly(worker):
    """A model step still running in C++ when the window closes (a ResNet-50 step at 224 takes seconds): the
    process must end with 0, not abort in PyTorch's teardown ("terminate called without an active
    exception", exit 134). nets:slow_later turns slow after its first frames."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(root / "tests")}
    p = subprocess.run([sys.executable, str(root / "run_viewer.py"), "--model", "nets:slow_later", "--source", "demo",
                        "--max-frames", "12", "--input-size", "16", "--worker", worker], env=env, capture_output=True,
                       text=True,
                       timeout=120)
    assert p.returncode == 0 and "terminate" not in p.stderr, (p.returncode, p.stderr[-500:])


def test_without_a_display_the_window_says_so_in_one_sentence_and_exits_2(monkeypatch, capsys):
    from viewer import launch
    monkeypatch.setattr(launch.sys, "platform", "linux")
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    assert launch.main(["--source", "demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no display") and "--export" in err and len(err.splitlines()) == 1
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")          # a headless driver chosen on purpose: no refusal
    assert launch.no_display() == ""


def test_every_help_example_parses_and_names_layers_that_exist():
    """Each example of --help: its arguments parse, and where its models are here (the shipped ones; torchvision
    where installed) the model builds and its --layer is found. A CUDA example is parsed only (no GPU here)."""
    import importlib.util
    import shlex

    from viewer.cli import DESCRIPTION, build, build_compare
    examples = [line.split("#")[0].split("run_viewer.py", 1)[1] for line in DESCRIPTION.splitlines()
                if line.strip().startswith("python run_viewer.py")]
    assert len(examples) >= 8
    built = 0
    for ex in examples:
        args = parse_args(shlex.split(ex))
        model = args.model
        if "cuda" in (args.device or "") or model.startswith("mypkg") or model.startswith("timm:") or \
                (":" not in model and not Path(model).exists()) or \
                (model.startswith("torchvision:") and importlib.util.find_spec("torchvision") is None):
            continue
        if model.startswith("torchvision:"):
            args.weights = "none"                     # no download here: the layer names are the same
        b = build(args)
        build_compare(args, b)
        assert args.layer is None or args.layer in {l.name for l in b.layers}, ex
        built += 1
    assert built >= 5


def test_a_window_below_the_smallest_is_held_at_it(random_checkpoint, capsys, monkeypatch):
    import pygame

    from viewer.render.layout import MIN_WINDOW
    sizes = []
    real = pygame.display.set_mode
    monkeypatch.setattr(pygame.display, "set_mode", lambda size, *a, **k: (sizes.append(tuple(size)), real(size, *a, **k))[1])
    rc, out, err = run(["--model", str(random_checkpoint), "--source", "demo", "--max-frames", "3", "--fps", "0",
                        "--window", "800x500", "--worker", "thread"], capsys)
    assert rc == 0, err
    assert sizes == [MIN_WINDOW] == [(1024, 640)]
    assert "below the smallest window (1024x640" in out


def test_a_torchscript_model_needs_the_trust_flag(tmp_path, capsys):
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                            torch.nn.Flatten()).eval()
    p = tmp_path / "downloaded.pt"
    torch.jit.trace(m, torch.randn(1, 3, 16, 16)).save(str(p))
    out, img = tmp_path / "o", tmp_path / "in.png"
    cv2.imwrite(str(img), np.full((16, 16, 3), 90, np.uint8))
    rc, _, err = run(["--model", str(p), "--export", str(out), "--source", str(img)], capsys)
    assert rc == 2 and "is a program, not data" in err and "--trust-model-code" in err and not out.exists()
    rc, _, err = run(["--model", str(p), "--export", str(out), "--source", str(img), "--trust-model-code",
                      "--input-size", "16", "--method", "gradient"], capsys)
    assert rc == 0, err


def test_a_model_that_cannot_go_to_a_process_runs_in_the_thread_and_says_so(tmp_path, capsys):
    import multiprocessing

    import torch
    from nets import PlainReLU
    p = tmp_path / "scripted.pt"
    torch.jit.trace(PlainReLU().eval(), torch.randn(1, 3, 16, 16)).save(str(p))
    rc, out, err = run(["--model", str(p), "--trust-model-code", "--input-size", "16", "--source", "demo",
                        "--max-frames", "20", "--fps", "0", "--worker", "process"], capsys)
    assert rc == 0, err
    assert "cannot be sent to a process of its own" in out and "runs in a thread instead" in out
    assert not multiprocessing.active_children()
