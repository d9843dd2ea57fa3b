"""--device (core/device.py): auto picks the CPU where torch sees no GPU; a device torch does not see is one
sentence; the status bar and the export say where the model ran. (No GPU is lent to the machines the suite
runs on: the CUDA path itself is not run here.)"""
import json

import numpy as np
import pytest
import torch

from viewer.core.device import DeviceError, choose_device, describe

NO_GPU = not torch.cuda.is_available()


@pytest.mark.skipif(not NO_GPU, reason="a CUDA GPU is present: auto picks it")
def test_auto_is_the_cpu_without_a_gpu_and_cpu_is_always_there():
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("an Apple GPU is present: auto picks it")
    assert choose_device("auto") == torch.device("cpu") and choose_device(None) == torch.device("cpu")
    assert choose_device("cpu") == torch.device("cpu") and describe(torch.device("cpu")) == "cpu"


@pytest.mark.skipif(not NO_GPU, reason="a CUDA GPU is present")
@pytest.mark.parametrize("text", ["cuda", "cuda:0", "mps"])
def test_a_device_torch_does_not_see_is_one_sentence(text):
    mps = getattr(torch.backends, "mps", None)
    if text == "mps" and mps is not None and mps.is_available():
        pytest.skip("an Apple GPU is present")
    with pytest.raises(DeviceError) as e:
        choose_device(text)
    msg = str(e.value)
    assert msg.startswith(f"--device {text}: ") and "\n" not in msg and msg.endswith("use --device cpu")
    if text.startswith("cuda"):
        assert ("CPU-only build" in msg) == (torch.version.cuda is None)


def test_a_misspelt_or_missing_gpu_number_is_said(monkeypatch):
    with pytest.raises(DeviceError, match="choose auto, cpu, cuda, cuda:N or mps"):
        choose_device("tpu")
    with pytest.raises(DeviceError, match="write cuda or cuda:N"):
        choose_device("cuda:x")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match="has 1 CUDA GPU"):
        choose_device("cuda:3")
    assert choose_device("cuda:0") == torch.device("cuda:0")


@pytest.mark.skipif(not NO_GPU, reason="a CUDA GPU is present")
def test_the_command_line_refuses_cuda_in_one_line_and_runs_on_the_cpu(tmp_path, capsys, random_checkpoint):
    import cv2

    from viewer.launch import main
    img = tmp_path / "i.png"
    cv2.imwrite(str(img), np.full((32, 32, 3), 90, np.uint8))
    assert main(["--model", str(random_checkpoint), "--device", "cuda", "--export", str(tmp_path / "o"),
                 "--source", str(img)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --device cuda: ") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()                   # nothing written
    assert main(["--model", str(random_checkpoint), "--device", "cpu", "--export", str(tmp_path / "o"),
                 "--source", str(img), "--units", "3"]) == 0
    assert json.loads((tmp_path / "o" / "result.json").read_text())["device"] == "cpu"


def test_the_status_bar_shows_the_device(pygame_display, monkeypatch, random_checkpoint):
    from helpers import measure_text, window

    from viewer.cli import build, parse_args
    b = build(parse_args(["--model", str(random_checkpoint), "--device", "cpu", "--precision", "fp32"]))
    assert b.device == "cpu" and b.precision.bf16 is False
    drawn, _ = measure_text(monkeypatch)
    with window(pygame_display, b, device=f"{b.device}, {b.precision.short}") as app:
        assert app.worker.pipeline.device == torch.device("cpu")
        app.update()
        app.draw()
    assert any("device cpu, fp32" in s for s in drawn)


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU (none on the machines this suite usually runs on)")
def test_on_a_gpu_every_result_equals_the_cpu_one(random_checkpoint):
    """Where a CUDA GPU is present: the same requests on the CPU and on the GPU give the same arrays (a unit,
    a whole-layer page through the cone, Grad-CAM, X's randomized copy, an ablation), within float noise."""
    import os

    from viewer.cli import build, parse_args
    from viewer.core.attribution import ChannelTarget
    from viewer.worker import Pipeline
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    from helpers import ask
    reqs = [ask(frame, 0, "conv6", ChannelTarget("conv6", 5), gradcam=True, layer_units=(0, 32), **more)
            for more in ({}, {"randomize": "conv6"}, {"ablate": (("conv6", 3),)})]
    got = {}
    for dev in ("cpu", "cuda"):
        b = build(parse_args(["--model", str(random_checkpoint), "--device", dev, "--precision", "fp32"]))
        assert b.device.startswith(dev)
        pipe = Pipeline(b.model, b.layers, b.spec)
        got[dev] = [pipe.compute(r) for r in reqs]
    for a, g in zip(got["cpu"], got["cuda"]):
        assert not g.error and not g.nonfinite
        pairs = {"activation": (a.activation, g.activation), "probs": (a.probs, g.probs), "recon": (a.recon, g.recon)}
        for part, field in (("whole_layer", "recons"), ("sanity", "recon"), ("ablation", "intact_probs")):
            pa, pg = a.part(part), g.part(part)
            pairs[part] = (getattr(pa, field) if pa else None, getattr(pg, field) if pg else None)
        for name, (x, y) in pairs.items():
            if x is None:
                assert y is None
                continue
            assert isinstance(y, np.ndarray) and np.abs(x - y).max() <= 1e-4 * max(1.0, np.abs(x).max()), name
        cam = [r.part("class_maps").maps["Grad-CAM"] for r in (a, g)]
        assert np.abs(cam[0] - cam[1]).max() < 1e-3
