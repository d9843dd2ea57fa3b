"""The benchmark commands still run and print their tables (numbers are checked by reading them, not here:
timings are not asserted on these noisy machines)."""
import re

from viewer.bench import common
from viewer.bench.run import main


def test_core_table_runs_and_its_peers_agree_with_ours(capsys, random_checkpoint):
    assert main(["core", "--repeat", "1", "--quick", "--checkpoint", str(random_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "CPU: " in out and "precision --precision auto picks here: " in out
    for row in ("plain forward, no capture", "replayed (every later frame)", "all 192 conv6 units",
                "plain PyTorch backward hooks, one conv6 unit", "GFLOP/s"):
        assert row in out, row
    # every peer that ran reproduced our fp32 reconstruction of the same unit (bf16 rows differ by design)
    fp32 = "\n".join(line for line in out.splitlines() if "bf16" not in line)
    diffs = [float(d) for d in re.findall(r"max rel diff (?:to autograd )?([0-9.e+-]+)", fp32)]
    assert diffs and max(diffs) < 1e-5


def test_frame_profile_accounts_for_the_whole_frame(pygame_display, random_checkpoint):
    from viewer.app import App
    from viewer.bench.live import frame_profile
    from viewer.core.graph import build_graph
    from viewer.sources import DemoSource
    from viewer.worker import Pipeline, Worker
    model, label, spec, classes = common.load_allcnn(random_checkpoint)
    layers = build_graph(model)
    pipe = Pipeline(model, layers, spec)
    screen = pygame_display.display.set_mode((1280, 800))
    app = App(screen, DemoSource(), Worker(pipe), layers, classes, label, sync=True)
    try:
        rows = dict((name, ms) for name, ms, _ in frame_profile(app, pipe, DemoSource(), 3))
    finally:
        app.worker.shutdown()
    for stage in ("source read (demo frame)", "preprocess", "forward", "unit", "draw: feature maps (colormap, tiles)"):
        assert rows[stage] >= 0, stage
    parts = sum(ms for name, ms in rows.items() if name != "whole frame")
    assert abs(parts - rows["whole frame"]) <= 0.25 * rows["whole frame"]  # medians of parts ~ the median whole


def test_family_table_runs_for_both_networks(capsys, random_checkpoint, tmp_path):
    assert main(["family", "--repeat", "1", "--checkpoint", str(random_checkpoint),
                 "--model-c", str(tmp_path / "absent.pt")]) == 0
    out = capsys.readouterr().out
    for row in ("one conv6 unit, guided (cone)", "one pool2 unit, guided (cone through the max-pools)",
                "whole layer (W), 192 pool2 units", "--compare All-CNN-C vs Model C"):
        assert row in out, row
    assert "Model C (random weights)" in out


def test_resnet_table_says_when_torchvision_is_missing(capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    assert main(["resnet", "--repeat", "1"]) == 0
    assert "not available: --model torchvision:resnet18 needs torchvision" in capsys.readouterr().out


def test_lrp_table_runs_and_names_its_rows(capsys, random_checkpoint):
    assert main(["lrp", "--repeat", "1", "--quick", "--checkpoint", str(random_checkpoint)]) == 0
    out = capsys.readouterr().out
    for row in ("EpsilonPlusFlat, one conv6 unit", "conv6 units, EpsilonPlusFlat", "K: conv6",
                "one live result (pipeline), EpsilonPlusFlat", "zennit"):
        assert row in out

