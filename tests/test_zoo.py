"""Models people bring: the ImageNet preset, --mean/--std/--classes, and torchvision / timm by name (the real
torchvision where it is installed; its absence is one sentence)."""
import sys

import pytest

from viewer.cli import UsageError, build, parse_args
from viewer.zoo import IMAGENET_MEAN, IMAGENET_STD, imagenet_classes


def test_the_shipped_imagenet_class_names():
    names = imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[-1] == "toilet tissue" and len(set(names)) == 1000


def test_preset_imagenet_gives_any_factory_the_size_normalisation_and_names():
    b = build(parse_args(["--model", "nets:thousand_classes", "--preset", "imagenet"]))
    assert b.spec.size == (224, 224) and b.spec.mean == IMAGENET_MEAN and b.spec.std == IMAGENET_STD
    assert b.classes == imagenet_classes()


def test_mean_std_and_classes_by_hand_and_their_errors(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"c{i}" for i in range(1000)) + "\n")
    b = build(parse_args(["--model", "nets:thousand_classes", "--input-size", "64", "--mean", "0.5", "0.5", "0.5",
                          "--std", "0.2", "0.2", "0.2", "--classes", str(names)]))
    assert b.spec.mean == (0.5, 0.5, 0.5) and b.spec.std == (0.2, 0.2, 0.2) and b.classes[999] == "c999"
    with pytest.raises(UsageError, match="--mean: give 3 numbers"):
        build(parse_args(["--model", "nets:thousand_classes", "--mean", "0.5"]))
    names.write_text("a\nb\n")
    with pytest.raises(UsageError, match="1000 outputs but 2 class names"):
        build(parse_args(["--model", "nets:thousand_classes", "--classes", str(names)]))
    with pytest.raises(UsageError, match="cannot be read"):
        build(parse_args(["--model", "nets:thousand_classes", "--classes", str(tmp_path / "none.txt")]))


def test_without_torchvision_or_timm_the_sentence_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)     # import fails, as where it is not installed
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(UsageError, match="pip install torchvision"):
        build(parse_args(["--model", "torchvision:resnet18"]))
    with pytest.raises(UsageError, match="pip install timm"):
        build(parse_args(["--model", "timm:resnet18"]))


def test_a_real_torchvision_resnet_opens_with_its_metadata_and_random_weights():
    """Runs where torchvision is installed (the project's CI installs the CPU torch build only; the README
    says which builds test this)."""
    pytest.importorskip("torchvision")
    b = build(parse_args(["--model", "torchvision:resnet18", "--weights", "none"]))
    assert b.name == "torchvision:resnet18 (random weights)" and b.spec.size == (224, 224)
    assert b.classes == imagenet_classes() and [l.name for l in b.layers][:4] == ["conv1", "bn1", "relu", "maxpool"]
    with pytest.raises(UsageError, match="not a weight of resnet18"):
        build(parse_args(["--model", "torchvision:resnet18", "--weights", "NOPE"]))


def test_a_torchvision_resnet_s_guided_backprop_equals_captum_s_on_a_twin_with_distinct_relus():
    """torchvision's BasicBlock calls one ReLU module twice; Captum hooks modules, so its reference runs on a
    twin whose blocks use two ReLU modules. Ours runs on the original (the rule applies per call)."""
    pytest.importorskip("torchvision")
    captum = pytest.importorskip("captum.attr")
    import copy
    import types
    import warnings

    import torch
    from torch import nn

    from viewer.core.attribution import Analyzer, ClassTarget
    from viewer.core.graph import build_graph
    from viewer.core.rules import Method
    warnings.filterwarnings("ignore", module="captum")
    import torchvision
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 1.5)
    twin = copy.deepcopy(model)
    twin.relu = nn.ReLU()

    def forward(self, x):   # torchvision's BasicBlock.forward with a second ReLU module
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + identity)
    for block in twin.modules():
        if isinstance(block, torchvision.models.resnet.BasicBlock):
            block.relu, block.relu2 = nn.ReLU(), nn.ReLU()
            block.forward = types.MethodType(forward, block)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    an = Analyzer(model, build_graph(model, (3, 64, 64)))
    fp = an.forward(x)
    top = int(fp.logits.argmax())
    ours = an.attribute(fp, [ClassTarget(top)], Method.GUIDED).images[0]
    theirs = captum.GuidedBackprop(twin).attribute(x.clone(), target=top)[0]
    assert ours.abs().max() > 0
    assert torch.allclose(ours, theirs, atol=1e-6, rtol=1e-4), (ours - theirs).abs().max()


def test_a_real_timm_model_opens_with_its_pretrained_config_and_random_weights():
    """Runs where timm is installed (it installs beside torch 2.14.1 + torchvision 0.29.1 here; not in CI)."""
    pytest.importorskip("timm")
    import numpy as np

    from viewer.core.attribution import ChannelTarget
    from viewer.worker import Pipeline, Request
    b = build(parse_args(["--model", "timm:resnet18", "--weights", "none"]))
    assert b.name == "timm:resnet18 (random weights)" and b.spec.size == (224, 224)
    assert b.spec.mean == IMAGENET_MEAN and b.classes == imagenet_classes()
    assert [l.name for l in b.layers][:4] == ["conv1", "bn1", "act1", "maxpool"]
    vit = build(parse_args(["--model", "timm:vit_tiny_patch16_224", "--weights", "none"]))
    assert vit.spec.mean == (0.5, 0.5, 0.5) and vit.spec.std == (0.5, 0.5, 0.5)     # its own config, not ImageNet's
    r = Pipeline(b.model, b.layers, b.spec).compute(
        Request(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8), 0, "layer3.0",
                ChannelTarget("layer3.0", 5)))
    assert not r.failed and not r.error and r.recon.shape == (3, 224, 224) and r.probs.shape == (1000,)


def test_a_timm_weight_that_is_neither_default_none_nor_a_file_is_refused():
    with pytest.raises(UsageError, match="for timm give DEFAULT"):      # said before timm is even imported
        build(parse_args(["--model", "timm:resnet18", "--weights", "IMAGENET1K_V1"]))


def test_what_a_unit_wants_on_a_torchvision_resnet():
    """Feature visualization takes the same path on a torchvision model (random weights): the unit's box, the
    forward stopped at its layer, the box checked against the whole image."""
    torchvision = pytest.importorskip("torchvision")
    import torch

    from viewer.core.featvis import Visualizer, VisSettings, layer_output
    from viewer.core.graph import build_graph
    from viewer.core.preprocess import InputSpec
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    spec = InputSpec((96, 96), IMAGENET_MEAN, IMAGENET_STD, 3)
    layers = {l.name: l for l in build_graph(model, (3, 96, 96))}
    layer = layers["layer2.0"]
    vis = Visualizer(model, layer, spec, [3, 7], (6, 6), VisSettings(steps=12))
    vis.run(12)
    t, l, b, r = vis.crop
    assert (b - t) * (r - l) < 96 * 96                                # the box, not the image
    assert float(vis.values().min()) > float(vis.first.max())
    mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    full = mean.expand(2, 3, 96, 96).clone()
    full[:, :, t:b, l:r] = vis.pictures()
    with torch.no_grad():
        whole = layer_output(model, layer, (full - mean) / std)[[0, 1], [3, 7], 6, 6]
    assert torch.allclose(vis.values(), whole, rtol=1e-4, atol=1e-6)


def test_the_cone_through_a_torchvision_resnet_s_additions_equals_autograd():
    """ResNet-18 as torchvision writes it (`out += identity`, in-place ReLUs, downsample shortcuts, the padded
    max-pool stem): every stage's units by the graph's cone (cone_dag.py) equal autograd's, all three rules."""
    torchvision = pytest.importorskip("torchvision")
    import torch

    from viewer.core.attribution import Analyzer, UnitTarget
    from viewer.core.cone_dag import DagPlan
    from viewer.core.graph import build_graph
    from viewer.core.rules import Method
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5)
    layers = build_graph(model, (3, 64, 64))
    fast, slow = Analyzer(model, layers), Analyzer(model, layers, fast=False)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    fpf, fps = fast.forward(x), slow.forward(x)
    for layer in ("layer1.1", "layer2.0", "layer3.1", "layer4.1"):
        c, h, w = fps.outputs[layer].shape[1:]
        targets = [UnitTarget(layer, ch, y, xx) for ch in range(0, c, 61) for (y, xx) in ((0, 0), (h - 1, w - 1))]
        for method in Method:
            a, b = fast.attribute(fpf, targets, method).images, slow.attribute(fps, targets, method).images
            assert isinstance(fpf.plans[layer], DagPlan)
            assert (a - b).abs().max() <= 1e-5 * b.abs().max(), (layer, method)
