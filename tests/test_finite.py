"""NaN and inf in a pass are named (core/finite.py): in the Result, the status bar and the export's JSON."""
import json

import numpy as np
import torch

from viewer.core.finite import describe, nonfinite_layers


def test_each_layer_holding_nan_or_inf_is_named_in_order():
    clean = torch.ones(1, 2, 3, 3)
    nan = clean.clone()
    nan[0, 1, 2, 2] = float("nan")
    both = clean.clone()
    both[0, 0, 0, 0], both[0, 1, 0, 0] = float("inf"), float("nan")
    neg = clean.clone()
    neg[0, 0, 1, 1] = -float("inf")
    assert nonfinite_layers({"a": clean, "b": clean}, torch.zeros(1, 4)) == []
    got = nonfinite_layers({"a": clean, "b": nan, "c": both, "d": neg}, torch.full((1, 4), float("nan")))
    assert got == [("b", "NaN"), ("c", "NaN and inf"), ("d", "inf"), ("logits", "NaN")]
    assert describe(got) == "NaN in layer b (and 2 later layers and the logits)"
    assert describe([("logits", "inf")]) == "inf in the logits" and describe([]) == ""
    assert nonfinite_layers({"ints": torch.arange(4).view(1, 4)}, torch.zeros(1, 2)) == []   # integers: finite


def test_a_model_with_a_nan_weight_is_named_and_drawn_as_zero(pygame_display, monkeypatch):
    from helpers import measure_text, window

    from viewer.cli import build, parse_args
    from viewer.core.attribution import ChannelTarget
    from viewer.worker import Pipeline, Request
    b = build(parse_args(["--model", "nets:nan_net", "--input-size", "16"]))
    pipe = Pipeline(b.model, b.layers, b.spec)
    frame = np.full((16, 16, 3), 128, np.uint8)
    r = pipe.compute(Request(frame, 0, "2", ChannelTarget("0", 0)))
    assert r.nonfinite.startswith("NaN in layer 2 (") and r.nonfinite.endswith("and the logits)")
    assert np.isfinite(r.activation).all() and np.isfinite(r.probs).all()       # drawn as 0, not as NaN
    assert r.activation[1].max() == 0 and np.abs(r.activation[0]).max() > 0     # the NaN channel only
    ok = build(parse_args(["--model", "nets:grey_net", "--input-size", "16"]))
    assert Pipeline(ok.model, ok.layers, ok.spec).compute(Request(frame, 0, "0", None)).nonfinite == ""
    drawn, _ = measure_text(monkeypatch)
    with window(pygame_display, b, name="n") as app:
        app.update()
        app.draw()
    assert any(s.startswith("NaN in layer 2 (") for s in drawn) and any("source demo" in s for s in drawn)  # status bar


def test_the_export_says_where_the_nan_is(tmp_path, capsys):
    import cv2

    from viewer.launch import main
    img = tmp_path / "grey.png"
    cv2.imwrite(str(img), np.full((20, 20, 3), 90, np.uint8))
    assert main(["--model", "nets:nan_net", "--input-size", "16", "--export", str(tmp_path / "out"),
                 "--source", str(img), "--layer", "1", "--units", "0"]) == 0
    info = json.loads((tmp_path / "out" / "result.json").read_text())
    assert info["nonfinite"].startswith("NaN in layer 2")
    assert "warning: " in capsys.readouterr().err
    main(["--model", "nets:grey_net", "--input-size", "16", "--export", str(tmp_path / "ok"), "--source", str(img),
          "--units", "0"])
    assert json.loads((tmp_path / "ok" / "result.json").read_text())["nonfinite"] is None


def test_a_finite_tensor_whose_sum_overflows_is_not_named():
    big = torch.full((1, 4, 8, 8), 3e38)
    assert not torch.isfinite(big.sum()) and nonfinite_layers({"big": big}, torch.zeros(1, 2)) == []
