"""The unit atlas (viewer/atlas): top K against a brute-force scan, patches against the receptive-field box,
stored reconstructions against attribute(), identity checks, atomic writes and bad input."""
import json

import numpy as np
import pytest
import torch

from viewer.atlas.__main__ import main
from viewer.atlas.data import open_image_set
from viewer.atlas.scan import TopK, cut
from viewer.atlas.store import load_atlas
from viewer.core.attribution import Analyzer, UnitTarget
from viewer.core.checkpoint import load_checkpoint
from viewer.core.graph import build_graph
from viewer.core.preprocess import InputSpec, normalised
from viewer.core.rules import Method


def brute_top(acts, k):
    """For each channel: every image's (value, image, y, x) at its first strongest position, sorted by value
    (highest first) and image index, the first k."""
    n, c, h, w = acts.shape
    out = []
    for ch in range(c):
        rows = []
        for i in range(n):
            m = acts[i, ch]
            best = (m[0, 0], 0, 0)
            for y in range(h):
                for x in range(w):
                    if m[y, x] > best[0]:
                        best = (m[y, x], y, x)
            rows.append((-float(best[0]), i, best[1], best[2]))
        out.append(sorted(rows)[:k])
    return out


@pytest.mark.parametrize("batch", [1, 3, 7, 20])
def test_top_k_equals_a_brute_force_scan_whatever_the_batching(batch):
    rng = np.random.default_rng(0)
    acts = rng.integers(0, 6, (20, 4, 3, 3)).astype(np.float32)   # small integers: many exact ties
    t = TopK(4, 5)
    for s in range(0, 20, batch):
        t.update(acts[s:s + batch], np.arange(s, min(s + batch, 20)))
    want = brute_top(acts, 5)
    for ch in range(4):
        got = [(-float(v), int(i), int(y), int(x)) for v, i, y, x in zip(t.values[ch], t.images[ch], t.ys[ch], t.xs[ch])]
        assert got == want[ch]


@pytest.mark.parametrize("channels_last", [False, True])
def test_top_k_of_tensors_equals_a_brute_force_scan_with_ties(channels_last):
    acts = np.random.default_rng(2).integers(0, 4, (12, 5, 4, 3)).astype(np.float32)   # ties within and across maps
    t = TopK(5, 4)
    for s in range(0, 12, 5):
        x = torch.from_numpy(acts[s:s + 5])
        t.update_tensor(x.contiguous(memory_format=torch.channels_last) if channels_last else x,
                        np.arange(s, min(s + 5, 12)))
    want = brute_top(acts, 4)
    for ch in range(5):
        got = [(-float(v), int(i), int(y), int(x)) for v, i, y, x in zip(t.values[ch], t.images[ch], t.ys[ch], t.xs[ch])]
        assert got == want[ch]


def test_cut_pads_past_the_border_and_marks_the_padding():
    img = np.arange(2 * 5 * 5).reshape(2, 5, 5)
    patch, valid = cut(img, (-1, 3, 2, 6))                   # rows -1..1, columns 3..5 of a 5x5 image
    assert patch.shape == (2, 3, 3) and valid.tolist() == [[False] * 3, [True, True, False], [True, True, False]]
    assert patch[0, 1:, :2].tolist() == img[0, 0:2, 3:5].tolist() and patch[:, 0].sum() == 0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    import cv2
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(1)
    for i in range(14):
        sub = root / ("a" if i < 7 else "b")
        sub.mkdir(exist_ok=True)
        cv2.imwrite(str(sub / f"{i:02d}.png"), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    (root / "b" / "broken.png").write_bytes(b"not a png")
    return root


def test_atlas_file_holds_the_true_top_k_patches_and_reconstructions(random_checkpoint, folder, tmp_path, capsys):
    out = tmp_path / "a.npz"
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv3", "conv7",
                 "--top", "4", "--batch", "5", "--out", str(out), "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "1 unreadable image skipped" in said and "from 14 images" in said
    atlas = load_atlas(out)
    with np.load(out, allow_pickle=False) as z:                 # readable without pickle
        meta = json.loads(str(z["meta"]))
    assert meta["data"]["count"] == 15 and meta["settings"]["top"] == 4
    # an independent pass: the model on each image's model view, in one batch, and brute force
    loaded = load_checkpoint(random_checkpoint)
    model, spec = loaded.model.eval(), InputSpec.from_meta(loaded.meta)
    layers = {l.name: l for l in build_graph(model)}
    data = open_image_set(folder)
    from viewer.core.preprocess import model_view
    views = {i: model_view(f, spec) for i, f in data.frames()}
    ids = sorted(views)
    an = Analyzer(model, list(layers.values()))
    fp = an.forward(normalised(np.stack([views[i] for i in ids]), spec.mean, spec.std), grad=False)
    for name in ("conv3", "conv7"):
        acts = fp.outputs[name].numpy()
        want = brute_top(acts, 4)
        la = atlas.layers[name]
        for ch in (0, 5, 17):
            got = [(int(i), int(y), int(x)) for i, y, x in zip(la.images[ch], la.ys[ch], la.xs[ch])]
            assert got == [(ids[i], y, x) for _, i, y, x in want[ch]]
            assert np.allclose(la.values[ch], [-v for v, *_ in want[ch]], rtol=1e-5, atol=1e-6)
        # patches: exactly the unit's receptive-field box of the model view; reconstructions: attribute()
        for ch, slot in ((5, 0), (17, 3)):
            img, y, x = int(la.images[ch, slot]), int(la.ys[ch, slot]), int(la.xs[ch, slot])
            t, l, b, r = layers[name].rf.box(y, x)
            view = views[img]
            inside = la.valid[ch, slot]
            assert inside.shape == (b - t, r - l)
            for yy in range(b - t):
                for xx in range(r - l):
                    iy, ix = t + yy, l + xx
                    on = 0 <= iy < view.shape[0] and 0 <= ix < view.shape[1]
                    assert inside[yy, xx] == on
                    if on:
                        assert (la.patches[ch, slot, yy, xx] == view[iy, ix]).all()
            fp1 = Analyzer(model, list(layers.values()), fast=False).forward(normalised(view[None], spec.mean, spec.std))
            for m in (Method.GUIDED, Method.DECONVNET, Method.GRADIENT):
                ref = Analyzer(model, list(layers.values()), fast=False).attribute(
                    fp1, [UnitTarget(name, ch, y, x)], m).images[0].numpy()
                want_patch = cut(ref, (t, l, b, r))[0]
                got_patch = la.recons[m.value][ch, slot]
                scale = max(np.abs(want_patch).max(), 1e-12)
                assert np.abs(got_patch - want_patch).max() <= 1e-5 * scale + 1e-12, (name, m)


def test_unchanged_inputs_reuse_the_file_and_a_changed_model_or_data_set_rebuilds_it(random_checkpoint, folder,
                                                                                       tmp_path, capsys):
    import shutil

    import cv2
    out = tmp_path / "a.npz"
    args = ["--data", str(folder), "--layers", "conv6", "--top", "2", "--out", str(out), "--no-progress"]
    assert main(["--model", str(random_checkpoint), *args]) == 0
    capsys.readouterr()
    assert main(["--model", str(random_checkpoint), *args]) == 0
    assert "up to date" in capsys.readouterr().out
    other = tmp_path / "other.pt"                        # same architecture, other weights
    ck = torch.load(random_checkpoint, weights_only=True)
    ck["state_dict"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in ck["state_dict"].items()}
    torch.save(ck, other)
    assert main(["--model", str(other), *args]) == 0
    assert "the model changed" in capsys.readouterr().out
    assert load_atlas(out).meta["model"]["path"] == str(other.resolve())
    data2 = tmp_path / "data2"
    shutil.copytree(folder, data2)
    cv2.imwrite(str(data2 / "a" / "new.png"), np.zeros((8, 8, 3), np.uint8))
    assert main(["--model", str(other), *args[:0], "--data", str(data2), *args[2:]]) == 0
    assert "the data set changed" in capsys.readouterr().out


@pytest.mark.parametrize("case, words", [
    ("missing", "no such file or folder"), ("empty", "holds no images"), ("corrupt_npz", "corrupt or truncated"),
    ("bad_video", "cannot be opened"), ("not_atlas_out", "not an atlas file")])
def test_bad_input_is_one_sentence_exit_2_and_no_file(random_checkpoint, tmp_path, capsys, folder, case, words):
    out = tmp_path / "out.npz"
    data = {"missing": tmp_path / "nothing", "empty": tmp_path / "empty", "corrupt_npz": tmp_path / "c.npz",
            "bad_video": tmp_path / "v.mp4", "not_atlas_out": folder}[case]
    (tmp_path / "empty").mkdir()
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "v.mp4").write_bytes(b"\x00" * 100)
    if case == "not_atlas_out":
        out.write_bytes(b"someone else's file")
    assert main(["--model", str(random_checkpoint), "--data", str(data), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1
    assert (out.read_bytes() == b"someone else's file") if case == "not_atlas_out" else not out.exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_an_interrupted_write_leaves_no_file(random_checkpoint, folder, tmp_path, monkeypatch, capsys):
    from viewer.atlas import scan
    out = tmp_path / "a.npz"

    def interrupt(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(scan, "reconstruct_images", interrupt)     # Ctrl+C during the reconstructions
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv6", "--out", str(out),
                 "--no-progress"]) == 130
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
    assert "was not written" in capsys.readouterr().err


def test_the_figure_is_drawn(random_checkpoint, folder, tmp_path):
    import cv2
    fig = tmp_path / "fig.png"
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--out", str(tmp_path / "a.npz"),
                 "--layers", "conv6", "conv9", "--top", "3", "--figure", str(fig), "--figure-units", "2",
                 "--no-progress"]) == 0
    img = cv2.imread(str(fig))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 300


def test_the_window_shows_the_atlas_and_a_click_opens_the_patch_s_image(pygame_display, random_checkpoint,
                                                                         folder, tmp_path):
    from helpers import click, key

    from viewer.app import App
    from viewer.cli import build, load_atlas_for, parse_args
    from viewer.render.layout import atlas_tiles
    from viewer.sources import DemoSource
    from viewer.session import TargetMode
    from viewer.worker import Pipeline, Worker
    out = tmp_path / "a.npz"
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv6", "--top", "4",
                 "--out", str(out), "--no-progress"]) == 0
    args = parse_args(["--model", str(random_checkpoint), "--atlas", str(out)])
    b = build(args)
    atlas = load_atlas_for(args, b)
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=64), worker, b.layers, b.classes, "m",
              sync=True, atlas=atlas)
    try:
        app.update()
        app.draw()
        app.session.select_channel(7, app.per_page())
        key(app, "a")
        assert app.session.part("atlas").view and app.pane("AtlasPane").shown_key() == ("conv6", 7, "guided")
        la = atlas.layers["conv6"]
        geo = atlas_tiles(app.layout.grid, 4)
        r = geo.patch(2)
        click(app, (r[0] + r[2] // 2, r[1] + r[3] // 2))
        s = app.session
        assert s.paused and not s.part("atlas").view and s.target_mode is TargetMode.POSITION
        assert s.position == (int(la.ys[7, 2]), int(la.xs[7, 2])) and app.feed.index == int(la.images[7, 2])
        u = app.result.unit
        assert (u.layer, u.channel, u.y, u.x) == ("conv6", 7, *s.position)
        # the live reconstruction of the same case is the stored one (inside the box)
        t, l, bt, rt = b.layers[[x.name for x in b.layers].index("conv6")].rf.box(*s.position)
        want = la.recons["guided"][7, 2]
        got = cut(app.result.recon, (t, l, bt, rt))[0]
        assert np.allclose(got, want, rtol=1e-4, atol=1e-6 * max(1e-12, np.abs(want).max()))
        key(app, "w")
        key(app, "a")                          # W + A: each unit's top patch in the grid
        assert app.pane("GridPane").note().startswith("each unit's top patch")
    finally:
        worker.shutdown(1.0)


def test_an_atlas_of_another_model_is_refused(random_checkpoint, folder, tmp_path):
    from viewer.cli import UsageError, build, load_atlas_for, parse_args
    out = tmp_path / "a.npz"
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv6", "--top", "2",
                 "--out", str(out), "--no-progress"]) == 0
    other = tmp_path / "other.pt"
    ck = torch.load(random_checkpoint, weights_only=True)
    ck["state_dict"] = {k: v * 1.5 if v.is_floating_point() else v for k, v in ck["state_dict"].items()}
    torch.save(ck, other)
    args = parse_args(["--model", str(other), "--atlas", str(out)])
    with pytest.raises(UsageError, match="made from another model"):
        load_atlas_for(args, build(args))


def test_the_live_atlas_keeps_the_true_top_k_of_a_scripted_frame_sequence(pygame_display, random_checkpoint):
    from helpers import click, key

    from viewer.app import App
    from viewer.cli import build, parse_args
    from viewer.render.layout import atlas_tiles
    from viewer.sources import Source
    from viewer.worker import Pipeline, Worker
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(12)]
    frames[7] = frames[3].copy()                    # an exact tie: the earlier frame must come first

    class Scripted(Source):
        name = "scripted"

        def __init__(self):
            self.i = -1

        def read(self):
            self.i = min(self.i + 1, len(frames) - 1)
            return frames[self.i]

        def read_seq(self):
            return self.read(), self.i
    b = build(parse_args(["--model", str(random_checkpoint)]))
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    app = App(pygame_display.display.set_mode((1280, 800)), Scripted(), worker, b.layers, b.classes, "m", sync=True)
    try:
        for _ in range(len(frames) + 3):            # the last frame repeats: it must count once
            app.update()
            app.draw()
        an = Analyzer(b.model, b.layers)
        acts = np.concatenate([an.forward(normalised(f[None], b.spec.mean, b.spec.std), grad=False)
                               .outputs["conv6"].numpy() for f in frames])
        want = brute_top(acts, 9)
        assert app.session.part("atlas").live.counts["conv6"] == len(frames)
        for ch in (0, 3, 50, 191):
            got = app.session.part("atlas").live.entries("conv6", ch)
            assert [(f - 1, y, x) for _, f, y, x in got] == [(i, y, x) for _, i, y, x in want[ch]]
            assert np.allclose([v for v, *_ in got], [-v for v, *_ in want[ch]], rtol=1e-5, atol=1e-6)
        ch = int(np.argmax(acts[:, :, :, :].max((0, 2, 3))))
        app.session.select_channel(ch, app.per_page())
        app.session.part("atlas").view = True
        app.draw()
        r = atlas_tiles(app.layout.grid, 9).patch(1)
        click(app, (r[0] + 2, r[1] + 2))             # reopen the second-best frame at that unit
        _, f, y, x = app.session.part("atlas").live.entries("conv6", ch)[1]
        assert app.session.paused and np.array_equal(app.frame, frames[f - 1]) and app.session.position == (y, x)
        key(app, "a", shift=True)                    # Shift+A
        assert app.session.part("atlas").live.entries("conv6", ch) == []
    finally:
        worker.shutdown(1.0)



@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_a_device_torch_does_not_see_is_one_sentence_before_any_work(random_checkpoint, folder, tmp_path, capsys):
    out = tmp_path / "a.npz"
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--out", str(out), "--device", "cuda",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda: ") and len(err.strip().splitlines()) == 1 and not out.exists()
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv6", "--top", "2",
                 "--out", str(out), "--device", "cpu", "--no-progress"]) == 0 and out.exists()


def test_optimize_stores_what_each_channel_wants_and_the_a_pane_shows_it_first(pygame_display, random_checkpoint,
                                                                               folder, tmp_path, monkeypatch):
    from helpers import click, key, measure_text

    from viewer.app import App
    from viewer.atlas import optimize
    from viewer.cli import build, load_atlas_for, parse_args
    from viewer.core.featvis import layer_output
    from viewer.render.layout import atlas_tiles
    from viewer.sources import DemoSource
    from viewer.worker import Pipeline, Worker
    settings = optimize.VisSettings
    monkeypatch.setattr(optimize, "VisSettings", lambda method, **kw: settings(method=method, steps=6, **kw))
    out, fig = tmp_path / "a.npz", tmp_path / "fig.png"
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv9", "--top", "3",
                 "--optimize", "--optimize-diverse", "2", "--out", str(out), "--figure", str(fig), "--figure-layers", "conv9",
                 "--no-progress"]) == 0
    atlas = load_atlas(out)
    la = atlas.layers["conv9"]
    assert la.optimized.dtype == np.uint8 and la.optimized.shape[0] == 10 and la.optimized.shape[3] == 3
    assert atlas.meta["settings"]["optimize"] == "fourier" and atlas.meta["settings"]["optimize_diverse"] == 2
    assert la.optimized_diverse.shape == (10, 2, *la.optimized.shape[1:])
    assert not np.array_equal(la.optimized_diverse[:, 0], la.optimized_diverse[:, 1])
    # the stored value is the unit's activation on the stored picture (an independent forward, up to uint8 rounding)
    args = parse_args(["--model", str(random_checkpoint), "--atlas", str(out)])
    b = build(args)
    layer = next(x for x in b.layers if x.name == "conv9")
    pics = torch.from_numpy(la.optimized).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(b.spec.mean).view(1, 3, 1, 1), torch.tensor(b.spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        acts = layer_output(b.model.eval(), layer, (pics - mean) / std)
    _, h, w = layer.shape
    centre = acts[torch.arange(10), torch.arange(10), h // 2, w // 2]
    assert np.allclose(centre.numpy(), la.optimized_values, rtol=0.05, atol=0.02 * float(centre.abs().max()))
    import cv2
    assert cv2.imread(str(fig)) is not None
    worker = Worker(Pipeline(b.model, b.layers, b.spec))
    app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=64), worker, b.layers, b.classes, "m",
              sync=True, atlas=load_atlas_for(args, b))
    try:
        drawn, _ = measure_text(monkeypatch)
        app.update()
        while app.layer.name != "conv9":
            key(app, "right")
        app.session.select_channel(4, app.per_page())
        key(app, "a")
        app.draw()
        assert any(t.startswith("wants") for t in drawn)
        r = atlas_tiles(app.layout.grid, 4).patch(2)        # the optimized tile first: patch 1 is drawn third
        click(app, (r[0] + r[2] // 2, r[1] + r[3] // 2))
        assert app.session.paused and app.feed.index == int(la.images[4, 1])
        key(app, "o")                                        # O says how far past the data set's best it got
        app.update()
        app.draw()
        assert any(t.startswith(f"the data set's best {float(la.values[4, 0]):.3g}") for t in drawn)
    finally:
        worker.shutdown(1.0)


def test_two_shards_in_two_processes_merge_into_the_unsharded_atlas_bit_for_bit(random_checkpoint, folder, tmp_path,
                                                                                 capsys):
    import subprocess
    import sys
    from pathlib import Path
    common = ["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv3", "conv6", "--top", "4",
              "--rank", "both", "--no-progress"]
    whole = tmp_path / "whole.npz"
    assert main(common + ["--out", str(whole)]) == 0
    root = Path(__file__).resolve().parent.parent
    procs = [subprocess.Popen([sys.executable, "-m", "viewer.atlas", *common, "--shard", f"{k}/2",
                               "--out", str(tmp_path / f"part{k}.npz")], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in (1, 2)]
    for pr in procs:
        out, err = pr.communicate(timeout=240)
        assert pr.returncode == 0, err
    parts = [load_atlas(tmp_path / f"part{k}.npz") for k in (1, 2)]
    assert [p.meta["shard"]["start"] for p in parts] == [0, 7] and parts[1].meta["shard"]["stop"] == 15  # 15 files
    merged = tmp_path / "merged.npz"
    assert main(["merge", str(tmp_path / "part2.npz"), str(tmp_path / "part1.npz"), "--out", str(merged)]) == 0
    a, b = load_atlas(whole), load_atlas(merged)
    assert a.meta == b.meta and np.array_equal(a.view_ids, b.view_ids) and np.array_equal(a.views, b.views)
    assert a.layers.keys() == b.layers.keys()
    for name, la in a.layers.items():
        lb = b.layers[name]
        for f in ("values", "images", "ys", "xs", "patches", "valid"):
            assert np.array_equal(getattr(la, f), getattr(lb, f)), (name, f)
        assert la.recons.keys() == lb.recons.keys()
        assert all(np.array_equal(la.recons[m], lb.recons[m]) for m in la.recons), name
    # one shard alone, or one given twice, is one sentence
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "part1.npz"), "--out", str(tmp_path / "x.npz")]) == 2
    assert main(["merge", str(tmp_path / "part1.npz"), str(tmp_path / "part1.npz"), "--out",
                 str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "missing 2/2" in err and "given twice: 1" in err and not (tmp_path / "x.npz").exists()


def test_an_unreadable_image_is_counted_once_however_often_the_set_is_read(random_checkpoint, folder, tmp_path, capsys):
    assert main(["--model", str(random_checkpoint), "--data", str(folder), "--layers", "conv9", "--top", "2",
                 "--rank", "both", "--out", str(tmp_path / "a.npz"), "--no-progress"]) == 0
    assert "1 unreadable image skipped" in capsys.readouterr().out
