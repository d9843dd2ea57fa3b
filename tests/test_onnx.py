"""ONNX models (--model FILE.onnx, viewer/core/onnx_model.py): graphs the test exports itself from PyTorch open with
every layer; the converted model's outputs and a unit's guided backprop equal the original's; bad files are one
sentence. onnx2torch needs torchvision: these run in CI's second environment (.ci/run)."""
import warnings

import pytest
import torch
from torch import nn

pytest.importorskip("onnx2torch", reason="onnx and onnx2torch are in CI's second environment")
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from viewer.cli import UsageError, build, parse_args  # noqa: E402
from viewer.core.attribution import Analyzer, UnitTarget  # noqa: E402
from viewer.core.rules import Method  # noqa: E402


def export(model, path, size=32):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.randn(1, 3, size, size),), str(path), dynamo=False, opset_version=17)


def small():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(12, 10)).eval()


def guided(model, layers, layer, x, unit=None):
    """The guided backprop of a unit (default: the strongest unit of the most active channel), and the unit."""
    an = Analyzer(model, layers)
    fp = an.forward(x)
    if unit is None:
        act = fp.activation(layer)
        c = int(act.flatten(1).max(1).values.argmax())
        y, xx = divmod(int(act[c].argmax()), act.shape[-1])
        unit = (c, y, xx)
    return an.attribute(fp, [UnitTarget(layer, *unit)], Method.GUIDED).images[0], unit


@pytest.mark.parametrize("which", ["small", "resnet18"])
def test_an_exported_model_opens_with_every_layer_and_the_same_outputs_and_guided_backprop(which, tmp_path):
    import torchvision
    size = 32 if which == "small" else 64
    torch.manual_seed(0)
    original = small() if which == "small" else torchvision.models.resnet18(num_classes=10).eval()
    path = tmp_path / f"{which}.onnx"
    export(original, path, size)
    b = build(parse_args(["--model", str(path), "--mean", "0.5", "0.5", "0.5", "--std", "0.25", "0.25", "0.25"]))
    assert b.spec.size == (size, size) and len(b.layers) >= 5
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(b.model(x), original(x), rtol=1e-4, atol=1e-5)
    # the first ReLU's output in both: a unit's guided backprop is the same
    from viewer.core.graph import build_graph
    mine = [l for l in b.layers if l.type_name.lower().endswith("relu") and len(l.shape) == 3][0]
    ref_layers = build_graph(original, (3, size, size))
    ref = [l for l in ref_layers if l.type_name == "ReLU" and len(l.shape) == 3][0]
    r, unit = guided(original, ref_layers, ref.name, x)
    a, _ = guided(b.model, b.layers, mine.name, x, unit)
    assert r.abs().max() > 0 and (a - r).abs().max() <= 1e-5 * r.abs().max()


def test_bad_onnx_files_are_one_sentence(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf graph")
    with pytest.raises(UsageError, match="not a valid ONNX model"):
        build(parse_args(["--model", str(bad)]))
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 1, 1])],
                              [helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])])
    path = tmp_path / "opset18.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    with pytest.raises(UsageError, match="cannot convert the ONNX operator ReduceMean \\(version 18\\)"):
        build(parse_args(["--model", str(path)]))
