"""The plugin contract: a toy feature added by one file (tests/toy_feature.py) and one register() call
reaches every place a feature has: the help overlay, the worker step, the result, its pane, the modes."""
import pytest
from helpers import key
from toy_feature import MeanActivation

from viewer import features
from viewer.keys import controls_markdown, help_lines


@pytest.fixture()
def toy():
    feature = features.register(MeanActivation())
    yield feature
    features.unregister(feature)


def test_a_toy_feature_is_one_file_and_one_registration(toy, pygame_display, random_checkpoint):
    from viewer.app import App
    from viewer.cli import build, parse_args
    from viewer.sources import DemoSource
    from viewer.worker import Pipeline, Worker
    assert ("K", toy.help) in help_lines() and f"| K | {toy.help} |" in controls_markdown()
    b = build(parse_args(["--model", str(random_checkpoint)]))
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=32), worker, b.layers, b.classes,
              "m", sync=True, pick_unit=False)
    try:
        app.update()
        app.draw()
        assert app.result.part(toy.name) is None and toy.label not in app.session.modes()
        key(app, "down")
        key(app, "k")
        r = app.result
        assert r.request.part(toy.name).channel == 1                      # its part reached the worker
        want = float(r.activation[1].mean())                              # the layer's map, averaged by hand
        assert r.part(toy.name).value == pytest.approx(want, rel=1e-6)    # its step's result came back
        pane = next(p for p in app.panes if type(p).__name__ == "MeanPane")
        assert pane.drawn and pane.drawn[-1] == f"channel 1 mean activation {want:.4g}"   # its pane drew it
        assert toy.label in app.session.modes()                           # its mode is shown
        key(app, "k")
        assert app.result.part(toy.name) is None and toy.label not in app.session.modes()
    finally:
        worker.shutdown(1.0)


def test_a_feature_name_is_registered_once(toy):
    with pytest.raises(ValueError, match="already registered"):
        features.register(MeanActivation())


def test_the_readme_controls_table_is_the_registry_s():
    from conftest import ROOT
    readme = (ROOT / "README.md").read_text()
    assert controls_markdown() in readme, "README's controls table is stale: paste `python -m viewer.keys`"


def test_a_recorded_clip_reads_back_with_its_frames_and_its_log(pygame_display, random_checkpoint, tmp_path):
    """--record: the window as an MP4 (read back with OpenCV: the window's size, one frame per 1/30 s of the
    clip's clock at least once per drawn frame) and a JSON line per recorded frame; Shift+S stops, and a second
    clip gets a new name; an existing file is refused by the command line."""
    import json

    import cv2

    from viewer.app import App
    from viewer.cli import build, parse_args
    from viewer.features.recording import FPS
    from viewer.launch import main
    from viewer.sources import DemoSource
    from viewer.worker import Pipeline, Worker
    b = build(parse_args(["--model", str(random_checkpoint)]))
    clip = tmp_path / "clip.mp4"
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    app = App(pygame_display.display.set_mode((640, 400)), DemoSource(size=32), worker, b.layers, b.classes, "m",
              sync=True, record=str(clip), save_dir=tmp_path / "shots")
    try:
        for _ in range(6):
            app.update()
            app.draw()
        assert any(m.startswith("REC") for m in app.session.modes())
        key(app, "s", shift=True)                           # stop
        assert not any(m.startswith("REC") for m in app.session.modes())
        lines = [json.loads(x) for x in clip.with_suffix(".jsonl").read_text().splitlines()]
        cap = cv2.VideoCapture(str(clip))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, first = cap.read()
        cap.release()
        assert ok and first.shape == (400, 640, 3)
        assert len(lines) >= 6 and n == lines[-1]["frame"] + 1 and n >= len(lines)
        assert lines[0]["layer"] == "conv6" and lines[0]["method"] == "guided" and "modes" in lines[0]
        assert n <= FPS * (lines[-1]["t"] + 1) + 1           # real time, not one frame per draw after a stall
        key(app, "s", shift=True)                           # a second clip: a new name in --save-dir
        app.update()
        app.draw()
        app.close()
        assert len(list((tmp_path / "shots").glob("recording-*.mp4"))) == 1
    finally:
        worker.shutdown(1.0)
    assert main(["--record", str(clip), "--source", "demo"]) == 2   # never overwrites
