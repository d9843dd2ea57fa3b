"""The atlas ranked by relevance equals a brute-force ranking: each image alone, its predicted class's relevance
per channel (core/concepts.py, one image at a time), sorted by hand."""
import numpy as np
import torch

from viewer.atlas.relevance import scan_relevance
from viewer.atlas.scan import atlas_layers
from viewer.core.attribution import Analyzer
from viewer.core.concepts import concept_relevance
from viewer.core.graph import build_graph
from viewer.core.lrp_method import pixel_bounds
from viewer.core.lrp_rules import EPSILON_PLUS_FLAT
from viewer.nets import build_model


def test_the_relevance_ranking_equals_a_brute_force_one():
    torch.manual_seed(0)
    model = build_model("allcnn_c").eval()
    graph = build_graph(model, (3, 32, 32))
    layers = [l for l in atlas_layers(graph) if l.name in ("conv3", "conv6")]
    an = Analyzer(model, graph, pixel_bounds=pixel_bounds((0.5,) * 3, (0.25,) * 3, 3))
    images = torch.randn(11, 3, 32, 32)
    batches = [(images[i:i + 4], list(range(i, min(i + 4, 11)))) for i in range(0, 11, 4)]
    tops = scan_relevance(an, layers, batches, 3, EPSILON_PLUS_FLAT)
    for l in layers:
        scores = np.stack([concept_relevance(an, an.forward(images[i:i + 1]), EPSILON_PLUS_FLAT, l.name, None, [])
                           .channels.numpy() for i in range(11)])                 # (images, C)
        for c in range(0, l.channels, 17):
            want = sorted(range(11), key=lambda i: (-scores[i, c], i))[:3]
            assert tops[l.name].images[c].tolist() == want, (l.name, c)
            assert np.allclose(tops[l.name].values[c], scores[want, c], rtol=1e-4, atol=1e-7)


def test_an_atlas_with_both_rankings_and_a_switches_between_them(pygame_display, random_checkpoint, tmp_path,
                                                                   monkeypatch):
    import cv2
    from helpers import key, measure_text

    from viewer.app import App
    from viewer.atlas.__main__ import main
    from viewer.cli import build, load_atlas_for, parse_args
    from viewer.sources import DemoSource
    from viewer.worker import Pipeline, Worker
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(3)
    for i in range(6):
        cv2.imwrite(str(root / f"{i}.png"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    out = tmp_path / "a.npz"
    assert main(["--model", str(random_checkpoint), "--data", str(root), "--layers", "conv9", "--top", "2",
                 "--methods", "guided", "--rank", "both", "--out", str(out), "--no-progress"]) == 0
    args = parse_args(["--model", str(random_checkpoint), "--atlas", str(out)])
    b = build(args)
    atlas = load_atlas_for(args, b)
    assert atlas.rankings() == ["activation", "relevance"] and set(atlas.layers) == {"conv9", "conv9@relevance"}
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=64), worker, b.layers, b.classes, "m",
              sync=True, atlas=atlas)
    try:
        app.session.select_layer(next(i for i, l in enumerate(app.session.layers) if l.name == "conv9"))
        app.update()
        st = app.session.part("atlas")
        key(app, "a")
        assert st.view and st.ranking == "activation" and st.file.layers["conv9"] is not None
        assert np.array_equal(st.file.layers["conv9"].values, atlas.layers["conv9"].values)
        key(app, "a")                                  # the same place, ranked by relevance
        assert st.view and st.ranking == "relevance" and "A atlas, by relevance" in app.session.modes()
        assert np.array_equal(st.file.layers["conv9"].values, atlas.layers["conv9@relevance"].values)
        drawn, _ = measure_text(monkeypatch)
        key(app, "w")                                  # W with A: the grid shows tiles, the strip its caption
        app.update()
        app.draw()
        assert any("of the atlas file by relevance" in t for t in drawn), drawn
        key(app, "w")
        key(app, "a")
        assert not st.view
    finally:
        worker.shutdown(1.0)


def test_both_rankings_read_the_data_once_and_equal_each_ranking_alone(random_checkpoint, tmp_path, capsys):
    """--rank both takes the activations from the LRP pass's forward: its activation layers equal an activation-only
    atlas's, and its relevance layers a relevance-only atlas's, bit for bit."""
    import cv2
    import numpy as np

    from viewer.atlas.__main__ import main
    from viewer.atlas.store import load_atlas
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(9):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (36, 36, 3), dtype=np.uint8))
    files = {}
    for rank in ("activation", "relevance", "both"):
        files[rank] = tmp_path / f"{rank}.npz"
        assert main(["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv3", "conv6",
                     "--top", "3", "--rank", rank, "--out", str(files[rank]), "--no-progress"]) == 0
    assert "activations from the same pass" in capsys.readouterr().out
    both = load_atlas(files["both"])
    for rank, suffix in (("activation", ""), ("relevance", "@relevance")):
        alone = load_atlas(files[rank])
        for name in ("conv3", "conv6"):
            a, b = alone.layers[name + suffix], both.layers[name + suffix]
            for f in ("values", "images", "ys", "xs", "patches"):
                assert np.array_equal(getattr(a, f), getattr(b, f)), (rank, name, f)
