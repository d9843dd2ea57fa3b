import os
import sys
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # headless pygame; must be set before pygame loads
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data" / "cifar10-jpeg.npz"

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """What the tool caches on disk (optimized images) goes to the test's folder, never the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory):
    """An All-CNN-C checkpoint with random weights (the app tests do not need a trained model)."""
    import torch

    from viewer.core.checkpoint import make_checkpoint
    from viewer.nets import AllCNNC
    torch.manual_seed(0)
    m = AllCNNC()
    path = tmp_path_factory.mktemp("ckpt") / "random_allcnn.pt"
    meta = {"classes": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "input_size": [32, 32], "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}
    torch.save(make_checkpoint(m, "allcnn_c", {}, meta), path)
    return path


@pytest.fixture()
def pygame_display():
    import pygame
    pygame.display.init()
    pygame.font.init()
    yield pygame
    from viewer.render import draw
    draw.forget_fonts()  # fonts die with pygame.quit()
    pygame.quit()


@pytest.fixture()
def app(pygame_display, random_checkpoint, tmp_path):
    """A sync App on a random All-CNN-C at 1280x800, on a 64x64 demo source, drawn once."""
    from viewer.app import App
    from viewer.cli import build, parse_args
    from viewer.sources import DemoSource
    from viewer.worker import Pipeline, Worker
    pg = pygame_display
    b = build(parse_args(["--model", str(random_checkpoint)]))
    screen = pg.display.set_mode((1280, 800))
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    a = App(screen, DemoSource(size=64), worker, b.layers, b.classes, "random", save_dir=tmp_path / "shots",
            sync=True, pick_unit=False)     # channel 0 at start: the tests count from it
    a.update()
    a.draw()
    yield a
    assert worker.shutdown(1.0)
