"""Checkpoint loading: our format, TorchScript, factories, and one clear sentence for each bad case."""
import pickle

import pytest
import torch
from nets import PlainReLU

from viewer.core.checkpoint import (
    CheckpointError,
    atomic_save,
    load_checkpoint,
    load_model,
    make_checkpoint,
)
from viewer.nets import AllCNNC


def save_allcnn(path, **arch_args):
    m = AllCNNC(**arch_args)
    torch.save(make_checkpoint(m, "allcnn_c", arch_args, {"classes": list("abcdefghij")}), path)
    return m


def test_roundtrip_with_weights_only(tmp_path):
    p = tmp_path / "m.pt"
    m = save_allcnn(p, bn=False)
    raw = torch.load(p, weights_only=True)  # the format itself is weights_only-safe
    assert raw["arch"] == "allcnn_c"
    loaded = load_checkpoint(p)
    assert not loaded.model.training
    assert loaded.meta["classes"] == list("abcdefghij")
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(loaded.model(x), m.eval()(x))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(str(tmp_path / "nope.pt"))


def test_not_a_checkpoint(tmp_path):
    p = tmp_path / "junk.pt"
    p.write_bytes(b"this is not a model" * 10)
    with pytest.raises(CheckpointError, match="not a model file this tool opens"):
        load_model(str(p))
    r = tmp_path / "random.xyz"                       # an unknown extension, random bytes: not "a pickle"
    r.write_bytes(bytes(range(256)) * 3)
    with pytest.raises(CheckpointError, match="not a model file this tool opens"):
        load_model(str(r))
    q = tmp_path / "dict.pt"
    torch.save({"a": torch.zeros(1)}, q)
    with pytest.raises(CheckpointError, match="not a viewer checkpoint"):
        load_model(str(q))


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    target = tmp_path / "pwned.txt"
    p = tmp_path / "evil.pt"
    torch.save({"format": "cnn-viewer-checkpoint", "payload": _Evil(str(target))}, p)
    assert not target.exists()
    with pytest.raises(CheckpointError, match="refused.*needs Python code"):
        load_model(str(p))
    assert not target.exists()
    raw = tmp_path / "evil.pkl"  # a bare pickle, not even a torch file
    raw.write_bytes(pickle.dumps(_Evil(str(target))))
    with pytest.raises(CheckpointError):
        load_model(str(raw))
    assert not target.exists()


def test_unknown_architecture(tmp_path):
    p = tmp_path / "m.pt"
    ck = make_checkpoint(AllCNNC(), "allcnn_c", {}, {})
    ck["arch"] = "resnet9000"
    torch.save(ck, p)
    with pytest.raises(CheckpointError, match="unknown architecture 'resnet9000'"):
        load_model(str(p))


def test_state_dict_that_does_not_fit(tmp_path):
    p = tmp_path / "m.pt"
    ck = make_checkpoint(AllCNNC(), "allcnn_c", {}, {})
    ck["state_dict"]["extra.weight"] = torch.zeros(3)
    del ck["state_dict"]["conv9.conv.weight"]
    ck["state_dict"]["conv1.conv.weight"] = torch.zeros(96, 3, 5, 5)
    torch.save(ck, p)
    with pytest.raises(CheckpointError) as e:
        load_model(str(p))
    msg = str(e.value)
    assert "missing keys ['conv9.conv.weight']" in msg
    assert "unexpected keys ['extra.weight']" in msg
    assert "first shape mismatch at 'conv1.conv.weight': checkpoint (96, 3, 5, 5), model (96, 3, 3, 3)" in msg
    assert "\n" not in msg


def test_torchscript_archive(tmp_path):
    m = PlainReLU().eval()
    p = tmp_path / "scripted.pt"
    torch.jit.trace(m, torch.randn(1, 3, 16, 16)).save(str(p))
    with pytest.raises(CheckpointError, match="a TorchScript archive is a program, not data .* refused; the viewer "
                                              r"\(cnn-viewer, run_viewer.py\) opens it with --trust-model-code"):
        load_model(str(p))                     # loading it would run its code: never without the user's word
    loaded = load_model(str(p), trust_code=True)
    x = torch.randn(1, 3, 16, 16)
    assert torch.allclose(loaded.model(x), m(x))
    assert loaded.arch == "torchscript"
    # the viewer sees one layer, the output; the gradient works, guided backprop is refused
    from viewer.core.attribution import Analyzer, AttributionError, ClassTarget
    from viewer.core.graph import build_graph
    from viewer.core.rules import Method
    layers = build_graph(loaded.model, (3, 16, 16))
    assert [l.name for l in layers] == ["output"]
    an = Analyzer(loaded.model, layers)
    fp = an.forward(x)
    g = an.attribute(fp, [ClassTarget(2)], Method.GRADIENT).images[0]
    xr = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(m(xr)[0, 2], xr)
    assert torch.allclose(g, ref[0], atol=1e-6)
    with pytest.raises(AttributionError, match="ReLU"):
        an.attribute(fp, [ClassTarget(2)], Method.GUIDED)


def test_factory_spec_with_weights(tmp_path):
    m = PlainReLU()
    w = tmp_path / "w.pt"
    torch.save(m.state_dict(), w)
    loaded = load_model("nets:PlainReLU", str(w))
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(loaded.model(x), m.eval()(x))
    with pytest.raises(CheckpointError, match="cannot import module"):
        load_model("no_such_pkg.mod:make")
    with pytest.raises(CheckpointError, match="has no attribute"):
        load_model("nets:nothing_here")
    with pytest.raises(CheckpointError, match="not a torch.nn.Module"):
        load_model("nets:_convs")
    bad = tmp_path / "bad.pt"
    torch.save({"c1.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model("nets:PlainReLU", str(bad))


def test_atomic_save_leaves_no_partial_file(tmp_path):
    p = tmp_path / "out.pt"
    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        atomic_save({"x": Boom()}, p)
    assert list(tmp_path.iterdir()) == []


def test_safetensors_weights_round_trip_and_bad_files_are_one_sentence(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")   # a test requirement (pyproject's test extra)
    torch.manual_seed(4)
    m = PlainReLU().eval()
    path = tmp_path / "w.safetensors"
    safetensors_torch.save_file(m.state_dict(), str(path))
    loaded = load_model("nets:PlainReLU", str(path))
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(loaded.model(x), m(x))
    wrong = tmp_path / "wrong.safetensors"
    safetensors_torch.save_file({"nothing": torch.zeros(2)}, str(wrong))
    with pytest.raises(CheckpointError, match="the weights do not fit the model"):
        load_model("nets:PlainReLU", str(wrong))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_model("nets:PlainReLU", str(broken))


def test_a_torch_export_program_opens_only_when_trusted_with_every_layer(tmp_path):
    """torch.export.load unpickles (PyTorch: never load an untrusted one): refused without --trust-model-code;
    with it, unflattened into its modules, the ReLUs take the rules: guided backprop equals the original's."""
    import warnings

    import pytest
    import torch
    from torch import nn

    from viewer.cli import UsageError, build, parse_args
    from viewer.core.attribution import Analyzer, ChannelTarget
    from viewer.core.graph import build_graph
    from viewer.core.rules import Method
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(6, 10)).eval()
    x = torch.randn(1, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(model, (x,)), str(tmp_path / "m.pt2"))
    with pytest.raises(UsageError, match="torch.export program is loaded with pickle.*--trust-model-code"):
        build(parse_args(["--model", str(tmp_path / "m.pt2")]))
    b = build(parse_args(["--model", str(tmp_path / "m.pt2"), "--trust-model-code"]))
    assert b.spec.size == (16, 16) and {"0", "2", "5"} <= {l.name for l in b.layers}
    got = Analyzer(b.model, b.layers)          # the window's analyzer (the cone where the trace allows)
    ref = Analyzer(model, build_graph(model, (3, 16, 16)), fast=False)
    for layer in ("2", "5"):
        a = got.attribute(got.forward(x), [ChannelTarget(layer, 1)], Method.GUIDED).images[0]
        r = ref.attribute(ref.forward(x), [ChannelTarget(layer, 1)], Method.GUIDED).images[0]
        g = ref.attribute(ref.forward(x), [ChannelTarget(layer, 1)], Method.GRADIENT).images[0]
        assert r.abs().max() > 0 and (layer == "2" or not torch.allclose(r, g))   # a ReLU below: the rule acts
        assert (a - r).abs().max() <= 1e-5 * r.abs().max()
