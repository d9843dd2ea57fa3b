"""Models whose return value is not a tensor: the logits by the documented rule (viewer/core/outputs.py)."""
import pytest
import torch
from nets import HeadsOutput

from viewer.core.attribution import Analyzer, ClassTarget
from viewer.core.graph import build_graph
from viewer.core.outputs import OutputError, logits_of
from viewer.core.rules import Method

A, B = torch.ones(1, 5), torch.zeros(1, 3)


def test_the_rule_in_order():
    assert logits_of(A) is A
    assert logits_of(type("O", (), {"logits": A, "x": B})()) is A          # .logits first
    assert logits_of({"aux": B, "logits": A}) is A                          # then a dict's "logits"
    assert logits_of((A, B)) is A and logits_of([("x", A), B]) is A        # then the first tensor, nested
    assert logits_of({"aux": B, "main": A}) is B                            # a dict in insertion order


def test_output_chooses_by_name_or_index_and_says_when_there_is_nothing():
    assert logits_of((A, B), "1") is B and logits_of((A, B), "-1") is B
    assert logits_of({"aux": B, "logits": A}, "aux") is B
    assert logits_of(type("O", (), {"logits": A, "aux": B})(), "aux") is B
    with pytest.raises(OutputError, match="--output 5"):
        logits_of((A, B), "5")
    with pytest.raises(OutputError, match="no tensor in it"):
        logits_of(("text", 3))


@pytest.mark.parametrize("kind", ["tuple", "dict", "object"])
def test_an_analyzer_takes_the_logits_from_any_of_the_three_forms(kind):
    torch.manual_seed(0)
    model = HeadsOutput(kind).eval()
    x = torch.randn(1, 3, 8, 8)
    an = Analyzer(model, build_graph(model, (3, 8, 8)))
    fp = an.forward(x)
    xr = x.clone().requires_grad_(True)
    h = model.relu(model.conv(xr))
    ref_logits = model.head(h).mean((2, 3))
    assert torch.allclose(fp.logits, ref_logits.detach(), atol=1e-6)
    (g,) = torch.autograd.grad(ref_logits[0, 2], xr)
    ours = an.attribute(fp, [ClassTarget(2)], Method.GRADIENT).images[0]
    assert torch.allclose(ours, g[0], atol=1e-6)
    aux = Analyzer(model, build_graph(model, (3, 8, 8)), output="1" if kind == "tuple" else "aux").forward(x)
    assert aux.logits.shape == (1, 3)


def test_the_viewer_opens_a_model_with_an_auxiliary_head(pygame_display):
    from viewer.cli import UsageError, build, parse_args
    b = build(parse_args(["--model", "nets:heads_tuple", "--input-size", "16"]))
    assert len(b.classes) == 5 and b.output is None
    assert len(build(parse_args(["--model", "nets:heads_tuple", "--input-size", "16", "--output", "1"])).classes) == 3
    with pytest.raises(UsageError, match="--output 7"):
        build(parse_args(["--model", "nets:heads_tuple", "--input-size", "16", "--output", "7"]))


def test_a_grayscale_model_opens_draws_and_reconstructs_in_grey(pygame_display):
    import numpy as np
    from helpers import key, window

    from viewer.cli import build, parse_args
    b = build(parse_args(["--model", "nets:grey_net", "--input-size", "28"]))
    assert b.spec.channels == 1 and len(b.spec.mean) == 1 and b.layers[0].shape == (8, 28, 28)
    with window(pygame_display, b, size=64, name="g", start_layer="2") as app:
        app.update()
        app.draw()
        r = app.result
        view = r.model_image.astype(int)
        assert (view[..., 0] == view[..., 1]).all() and (view[..., 1] == view[..., 2]).all()   # grey, as seen
        frame = app.frame.astype(float)
        assert r.recon.shape == (1, 28, 28) and np.abs(r.recon).max() > 0
        # the model's input is the luma of the frame (here computed by hand on the crop, resized by the model view)
        luma = 0.299 * frame[..., 0] + 0.587 * frame[..., 1] + 0.114 * frame[..., 2]
        assert abs(view[..., 0].mean() - luma.mean()) < 3
        imgs = app.pane("UnitPane").images_for(app.view(0.0), r)
        rgb = imgs["recon"].astype(int)
        assert (rgb[..., 0] == rgb[..., 2]).all()                                              # shown in grey
        for k in ("w", "f", "b", "g"):
            key(app, k)
        assert app.result is not None and not app.result.failed


def test_a_non_square_input_size_works_end_to_end(pygame_display, random_checkpoint):
    import numpy as np
    from helpers import window

    from viewer.cli import UsageError, build, parse_args
    b = build(parse_args(["--model", str(random_checkpoint), "--input-size", "24x40"]))
    assert b.spec.size == (24, 40) and b.layers[0].shape == (96, 24, 40)
    with window(pygame_display, b, size=64) as app:
        app.update()
        app.draw()
        r = app.result
        assert r.model_image.shape == (24, 40, 3) and r.recon.shape == (3, 24, 40) and np.abs(r.recon).max() > 0
        top, left, h, w = r.crop
        assert abs(w / h - 40 / 24) < 0.05                      # the crop has the input's aspect
    with pytest.raises(UsageError, match="give N or HxW"):
        build(parse_args(["--model", str(random_checkpoint), "--input-size", "24x"]))


def test_where_the_logits_were_found_is_said():
    from viewer.core.outputs import pick
    assert pick(A)[1] == "" and pick((A, B))[1] == "[0]" and pick((A, B), "1")[1] == "[1]"
    assert pick({"aux": B, "logits": A})[1] == "['logits']" and pick({"aux": B})[1] == "['aux']"
    assert pick(type("O", (), {"logits": A})())[1] == ".logits" and pick([("x", A)])[1] == "[0][1]"


def test_the_window_names_the_output_it_shows(pygame_display):
    from viewer.cli import build, parse_args
    assert build(parse_args(["--model", "nets:heads_tuple", "--input-size", "16"])).name.endswith(
        "[logits = tuple[0]]")
    assert build(parse_args(["--model", "nets:heads_tuple", "--input-size", "16", "--output", "1"])).name.endswith(
        "[logits = tuple[1]]")
    assert "logits =" not in build(parse_args(["--model", "nets:grey_net", "--input-size", "16"])).name


def test_a_network_without_relus_still_gets_grad_cam_and_is_told_to_use_the_gradient(pygame_display):
    import numpy as np
    import torch.nn.functional as F

    from viewer.cli import build, parse_args
    from viewer.core.attribution import ChannelTarget
    from viewer.core.preprocess import model_view, to_tensor
    from viewer.worker import Pipeline, Request
    b = build(parse_args(["--model", "nets:silu_net", "--input-size", "16"]))
    pipe = Pipeline(b.model, b.layers, b.spec)
    frame = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    from helpers import ask
    r = pipe.compute(ask(frame, 0, "2", ChannelTarget("2", 1), gradcam=True))
    assert "needs a ReLU" in r.error and "--method gradient" in r.error
    assert list(r.part("class_maps").maps) == ["Grad-CAM"]
    # Grad-CAM by hand: weights = the mean gradient of the top logit over layer "2", ReLU of the weighted sum,
    # bilinear upsampling, divided by its peak
    x = to_tensor(model_view(frame, b.spec), b.spec)
    feats = b.model[:3](x)
    logits = b.model[3:](feats)
    (g,) = torch.autograd.grad(logits[0, int(logits.argmax())], feats)
    cam = F.relu((g[0].mean((1, 2))[:, None, None] * feats[0]).sum(0))
    cam = F.interpolate(cam[None, None], size=(16, 16), mode="bilinear", align_corners=False)[0, 0]
    assert np.allclose(r.part("class_maps").maps["Grad-CAM"], (cam / cam.max()).detach().numpy(), atol=1e-5)
    from viewer.core.methods import method_named
    assert not pipe.compute(Request(frame, 0, "2", ChannelTarget("2", 1), method=method_named("gradient"))).error


def test_the_whole_layer_view_says_why_it_has_nothing_to_show(pygame_display):
    """W on a layer without a spatial map, and W where the method cannot run (no ReLU): a sentence in the
    grid's place, not "reconstructing every unit..." forever."""
    from helpers import key, window

    from viewer.cli import build, parse_args
    b = build(parse_args(["--model", "nets:silu_net", "--input-size", "16"]))
    with window(pygame_display, b, name="s", start_layer="2") as app:
        app.update()
        app.draw()
        key(app, "w")
        assert app.pane("GridPane").note() == "no reconstructions: the unit panel says why"
        app.session.select_layer(len(app.session.layers) - 1)                # the Linear: (4,), no spatial map
        app.update()
        app.draw()
        assert app.pane("GridPane").note() == "no spatial map: W is for convolution layers"
