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
              "m", sync=True)
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
