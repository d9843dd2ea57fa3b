"""Attribution on All-CNN-C and on models written in different ways, against independent references."""
import pytest
import torch
from nets import (
    FunctionalReLU,
    InplaceReLU,
    NoReLU,
    PlainReLU,
    SharedReLU,
    make_tiny_resnet,
)
import torch.nn.functional as F
from torch import nn

from viewer.core import gradcam
from viewer.core.attribution import (
    Analyzer,
    AttributionError,
    ChannelTarget,
    ClassTarget,
    UnitTarget,
)
from viewer.core.graph import build_graph
from viewer.core.rules import Method
from viewer.nets import AllCNNC


@pytest.fixture(scope="module")
def allcnn():
    torch.manual_seed(1)
    m = AllCNNC().eval()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_var.uniform_(0.05, 0.2)  # keep the activations of a random net lively
    layers = build_graph(m)
    return m, layers, Analyzer(m, layers)


def image(seed=0, size=32):
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_gradient_rule_equals_plain_autograd(allcnn):
    model, _, an = allcnn
    x = image(3)
    fp = an.forward(x)
    unit = an.resolve(fp, ChannelTarget("conv5", 7))
    ours = an.attribute(fp, [unit], Method.GRADIENT).images[0]
    # reference: the plain model, no rules, no hooks; read conv5's output through a second module call
    ref_x = x.clone().requires_grad_(True)
    h = ref_x
    for name in ["conv1", "conv2", "conv3", "conv4", "conv5"]:
        h = getattr(model, name)(h)
    (ref,) = torch.autograd.grad(h[0, unit.channel, unit.y, unit.x], ref_x)
    assert torch.allclose(ours, ref[0], atol=1e-7, rtol=1e-5)
    assert ours.abs().max() > 0


@pytest.mark.parametrize("method", list(Method))
def test_batched_units_equal_single_runs(allcnn, method):
    _, _, an = allcnn
    fp = an.forward(image(4))
    targets = [ChannelTarget("conv6", c) for c in range(0, 192, 12)] + [UnitTarget("conv3", 5, 2, 9)]
    batched = an.attribute(fp, targets, method).images
    for k, t in enumerate(targets):
        single = an.attribute(fp, [t], method).images[0]
        assert (batched[k] - single).abs().max() <= 1e-6


def test_batched_seeds_are_not_summed(allcnn):
    _, _, an = allcnn
    fp = an.forward(image(5))
    t = [ChannelTarget("conv6", 1), ChannelTarget("conv6", 2)]
    both = an.attribute(fp, t, Method.GUIDED).images
    assert not torch.allclose(both[0], both[1])


def test_guided_conv6_zero_outside_19x19_receptive_field(allcnn):
    _, layers, an = allcnn
    conv6 = next(l for l in layers if l.name == "conv6")
    assert conv6.rf.size == (19, 19)
    fp = an.forward(image(6))
    act = fp.activation("conv6")
    # an active unit well inside the image, so the 19x19 window is not clipped: (y, x) = (4, 4) -> centre 16
    c = int(act[:, 4, 4].argmax())
    assert act[c, 4, 4] > 0
    g = an.attribute(fp, [UnitTarget("conv6", c, 4, 4)], Method.GUIDED).images[0].abs().amax(0)
    top, left, bottom, right = conv6.rf.box(4, 4, 32, 32)
    assert (bottom - top, right - left) == (19, 19) and (top, left) == (16 - 9, 16 - 9)
    inside = torch.zeros_like(g, dtype=torch.bool)
    inside[top:bottom, left:right] = True
    assert g[~inside].max() == 0
    assert g[inside].max() > 0
    assert (g[inside] > 0).float().mean() > 0.2


def test_inactive_unit_gradient_and_guided_zero_deconvnet_not(allcnn):
    _, _, an = allcnn
    fp = an.forward(image(7))
    act = fp.activation("conv6")
    idx = (act == 0).nonzero()
    assert len(idx) > 0
    c, y, x = (int(v) for v in idx[0])
    t = [UnitTarget("conv6", c, y, x)]
    g = an.attribute(fp, t, Method.GUIDED)
    assert g.inactive(0) and g.images.abs().max() == 0
    assert an.attribute(fp, t, Method.GRADIENT).images.abs().max() == 0
    assert an.attribute(fp, t, Method.DECONVNET).images.abs().max() > 0


def test_class_target_seeds_the_logit(allcnn):
    model, _, an = allcnn
    x = image(8)
    fp = an.forward(x)
    ours = an.attribute(fp, [ClassTarget(3)], Method.GRADIENT).images[0]
    ref_x = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(model(ref_x)[0, 3], ref_x)
    assert torch.allclose(ours, ref[0], atol=1e-7, rtol=1e-5)


def test_gradcam_matches_definition(allcnn):
    model, _, an = allcnn
    x = image(9)
    fp = an.forward(x)
    cam, guided_cam = gradcam.cam_and_guided(an, fp, 2, "conv7")
    # reference written out: alpha_k = mean of d logit / d A_k; cam = relu(sum alpha_k A_k), bilinear up
    h = x.clone()
    for name in ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7"]:
        h = getattr(model, name)(h)
    a = h.detach().requires_grad_(True)
    logits = model.pool(model.conv9(model.conv8(a))).flatten(1)
    (g,) = torch.autograd.grad(logits[0, 2], a)
    ref = torch.relu((g[0].mean((1, 2))[:, None, None] * a[0]).sum(0))
    ref = torch.nn.functional.interpolate(ref[None, None], size=(32, 32), mode="bilinear")[0, 0]
    ref = ref / ref.max()
    assert torch.allclose(cam, ref, atol=1e-5)
    gb = an.attribute(fp, [ClassTarget(2)], Method.GUIDED).images[0]
    assert torch.allclose(guided_cam, gb * ref, atol=1e-6)


def test_fully_convolutional_larger_input(allcnn):
    _, _, an = allcnn
    fp = an.forward(image(10, size=64))
    assert fp.activation("conv6").shape == (192, 16, 16)
    assert fp.logits.shape == (1, 10)
    assert an.attribute(fp, [ChannelTarget("conv6", 3)], Method.GUIDED).images.shape == (1, 3, 64, 64)


@pytest.mark.parametrize("method", list(Method))
def test_relu_written_four_ways_gives_identical_results(method):
    x = image(11, size=16)
    results = []
    for cls in (PlainReLU, InplaceReLU, SharedReLU, FunctionalReLU):
        model = cls().eval()
        layers = build_graph(model, (3, 16, 16))
        an = Analyzer(model, layers)
        fp = an.forward(x)
        c3 = next(l for l in layers if l.name == "c3")
        res = an.attribute(fp, [ChannelTarget("c3", k) for k in range(6)] + [ClassTarget(2)], method)
        results.append((res.images, fp.activation("c3"), c3.rf))
    for images, act, rf in results[1:]:
        assert torch.equal(images, results[0][0])
        assert torch.equal(act, results[0][1])  # c3 captured before its ReLU, even when the ReLU is in place
        assert rf == results[0][2]
    assert results[0][1].min() < 0  # pre-ReLU values really are captured
    if method is Method.GUIDED:  # the rule reached the ReLUs: guided differs from the plain gradient
        plain = PlainReLU().eval()
        an = Analyzer(plain, build_graph(plain, (3, 16, 16)))
        fp = an.forward(x)
        grad = an.attribute(fp, [ChannelTarget("c3", k) for k in range(6)] + [ClassTarget(2)], Method.GRADIENT)
        assert not torch.allclose(grad.images, results[0][0])


def test_residual_model_graph_and_attribution():
    model = make_tiny_resnet()
    layers = build_graph(model, (3, 16, 16))
    names = [l.name for l in layers]
    assert names == ["stem.0", "stem.1", "stem.2", "layer1.0", "layer1.1", "pool", "fc"]
    rfs = {l.name: l.rf for l in layers}
    assert rfs["stem.0"].size == (3, 3) and rfs["layer1.0"].size == (7, 7) and rfs["layer1.1"].size == (11, 11)
    an = Analyzer(model, layers)
    x = image(12, size=16)
    fp = an.forward(x)
    # the block output (after `out += x` in place) equals the plain model's
    ref = model.layer1[0](model.stem(x.clone()))
    assert torch.allclose(fp.activation("layer1.0"), ref[0], atol=1e-6)
    assert torch.allclose(fp.logits, model(x.clone()), atol=1e-6)
    g = an.attribute(fp, [ChannelTarget("layer1.1", 2)], Method.GRADIENT).images[0]
    u = an.resolve(fp, ChannelTarget("layer1.1", 2))
    ref_x = x.clone().requires_grad_(True)
    (r,) = torch.autograd.grad(model.layer1(model.stem(ref_x))[0, 2, u.y, u.x], ref_x)
    assert torch.allclose(g, r[0], atol=1e-6)
    assert an.attribute(fp, [ChannelTarget("layer1.1", 2)], Method.GUIDED).images.abs().max() > 0


def test_model_without_relu_refuses_guided():
    model = NoReLU().eval()
    an = Analyzer(model, build_graph(model, (3, 8, 8)))
    fp = an.forward(image(13, size=8))
    with pytest.raises(AttributionError, match="ReLU"):
        an.attribute(fp, [ChannelTarget("c2", 0)], Method.GUIDED)
    with pytest.raises(AttributionError, match="ReLU"):
        an.attribute(fp, [ClassTarget(0)], Method.DECONVNET)
    assert an.attribute(fp, [ChannelTarget("c2", 0)], Method.GRADIENT).images.abs().max() > 0


def test_bad_targets_are_clear_errors(allcnn):
    _, _, an = allcnn
    fp = an.forward(image(14))
    with pytest.raises(AttributionError, match="unknown layer"):
        an.attribute(fp, [ChannelTarget("conv99", 0)], Method.GUIDED)
    with pytest.raises(AttributionError, match="out of range"):
        an.attribute(fp, [ChannelTarget("conv6", 500)], Method.GUIDED)
    with pytest.raises(AttributionError, match="outside"):
        an.attribute(fp, [UnitTarget("conv6", 0, 9, 0)], Method.GUIDED)
    with pytest.raises(AttributionError, match="out of range"):
        an.attribute(fp, [ClassTarget(10)], Method.GUIDED)


def test_identical_calls_identical_results(allcnn):
    _, _, an = allcnn
    x = image(15)
    t = [ChannelTarget("conv4", 9), ClassTarget(1)]
    a = an.attribute(an.forward(x), t, Method.GUIDED).images
    b = an.attribute(an.forward(x), t, Method.GUIDED).images
    assert torch.equal(a, b)


@pytest.mark.parametrize("method", list(Method))
def test_cone_fast_path_equals_autograd(allcnn, method):
    model, layers, fast = allcnn
    slow = Analyzer(model, layers, fast=False)
    x = image(16)
    fpf, fps = fast.forward(x), slow.forward(x)
    for layer in ("conv1", "conv3", "conv6", "conv7", "conv9"):
        h, w = fpf.activation(layer).shape[1:]
        targets = [ChannelTarget(layer, c) for c in range(0, fpf.activation(layer).shape[0], 7)]
        targets += [UnitTarget(layer, 1, 0, 0), UnitTarget(layer, 2, h - 1, w - 1), UnitTarget(layer, 3, 0, w - 1)]
        a = fast.attribute(fpf, targets, method).images
        b = slow.attribute(fps, targets, method).images
        assert fpf.plans[layer] is not None  # the fast path really ran
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()
        one = fast.attribute(fpf, targets[:1], method).images  # the K = 1 code path
        assert (one[0] - b[0]).abs().max() <= 1e-5 * b.abs().max()
        # many units at few positions: the windows are gathered once per position (a path of its own)
        shared = [UnitTarget(layer, c, y, xx) for c in range(0, fpf.activation(layer).shape[0], 2)[:24]
                  for (y, xx) in ((0, w - 1), (h // 2, w // 2))]
        a = fast.attribute(fpf, shared, method).images
        b = slow.attribute(fps, shared, method).images
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()


def test_cone_bf16_is_close_to_fp32(allcnn):
    model, layers, _ = allcnn
    an, an16 = Analyzer(model, layers), Analyzer(model, layers, bf16=True)
    x = image(17)
    t = [ChannelTarget("conv6", c) for c in range(0, 192, 5)]
    a = an.attribute(an.forward(x), t, Method.GUIDED).images
    b = an16.attribute(an16.forward(x), t, Method.GUIDED).images
    assert (a - b).abs().max() <= 0.05 * a.abs().max()


def test_residual_model_runs_the_cone_through_its_additions():
    from viewer.core.cone import ConePlan
    from viewer.core.cone_dag import DagPlan
    model = make_tiny_resnet()
    an = Analyzer(model, build_graph(model, (3, 16, 16)))
    fp = an.forward(image(18, size=16))
    an.attribute(fp, [ChannelTarget("layer1.1", 0), ChannelTarget("stem.2", 1)], Method.GUIDED)
    assert isinstance(fp.plans["layer1.1"], DagPlan)     # `out += x`: the graph's cone (cone_dag.py)
    assert isinstance(fp.plans["stem.2"], ConePlan)      # conv -> bn -> relu before the blocks: a chain


class Down(nn.Module):
    """A ResNet stage's first block: stride-2 3x3 conv, and a 1x1 stride-2 shortcut with BatchNorm; the sum in
    place (`o += shortcut`, torchvision's) or not (`shortcut + o`, the other order)."""

    def __init__(self, cin, cout, inplace):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))
        self.inplace = inplace

    def forward(self, x):
        o = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        if self.inplace:
            o += self.sc(x)
        else:
            o = self.sc(x) + o
        return F.relu(o)


class StridedResNet(nn.Module):
    """ResNet's stem (7x7-like stride-2 conv, BN, ReLU, padded 3x3 stride-2 max-pool) and two downsampling
    blocks: windows that meet at different offsets and sizes where the branches join."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 5, 2, 2), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        self.l1, self.l2, self.fc = Down(8, 12, True), Down(12, 16, False), nn.Linear(16, 4)
        torch.manual_seed(1)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5), m.weight.data.uniform_(0.5, 1.5)

    def forward(self, x):
        return self.fc(self.l2(self.l1(self.stem(x))).mean((2, 3)))


@pytest.mark.parametrize("method", list(Method))
@pytest.mark.parametrize("net", ["tiny", "strided"])
def test_cone_through_residual_additions_equals_autograd(method, net):
    from viewer.core.cone_dag import DagPlan
    model, size, names = ((make_tiny_resnet(), 16, ("layer1.0", "layer1.1")) if net == "tiny" else
                          (StridedResNet().eval(), 45, ("l1", "l2")))
    layers = build_graph(model, (3, size, size))
    fast, slow = Analyzer(model, layers), Analyzer(model, layers, fast=False)
    x = image(23, size=size)
    for _ in range(2):                       # traced, then replayed from the tape (its additions rebuilt)
        fpf, fps = fast.forward(x), slow.forward(x)
        for layer in names:
            c, h, w = fps.outputs[layer].shape[1:]
            targets = [UnitTarget(layer, ch, y, xx) for ch in range(0, c, 3)
                       for (y, xx) in ((0, 0), (h - 1, w - 1), (h // 2, 1))]
            a, b = fast.attribute(fpf, targets, method).images, slow.attribute(fps, targets, method).images
            assert isinstance(fpf.plans[layer], DagPlan)
            assert (a - b).abs().max() <= 1e-5 * b.abs().max()
            one = fast.attribute(fpf, targets[1:2], method).images
            assert (one[0] - b[1]).abs().max() <= 1e-5 * b.abs().max()
    assert fast.replay_refused == "" and all(v is not None for v in fast._tapes.values())


class ReluSecond(nn.Module):
    """x0 + relu(c1(x0)): the sum's second summand ends in a ReLU, whose rule runs in place on the signal the sum
    handed to both summands (found in review: it changed the first summand's copy too)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.c0, self.c1, self.c2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3)

    def forward(self, x):
        x0 = torch.relu(self.c0(x))
        return self.c2(x0 + torch.relu(self.c1(x0))).mean((2, 3))


class AddsItself(nn.Module):
    """`o += o`: the sum would read its own result; not traced as an addition (autograd runs it)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.c0, self.c2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3)

    def forward(self, x):
        o = torch.relu(self.c0(x))
        o += o
        return self.c2(o).mean((2, 3))


class ReadsBeforeAdding(nn.Module):
    """`o += side` where side was computed from o's earlier value: not an addition of two recorded values."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.act = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()

    def forward(self, x):
        o = F.conv2d(x, self.c1.weight, self.c1.bias, padding=1)    # no module: not a captured layer
        side = torch.relu(self.c2(o.clone()))   # a recorded op read o before the sum
        o += side
        return self.act(o).mean((2, 3))


@pytest.mark.parametrize("net, layer, fast_path", [(ReluSecond, "c2", True), (AddsItself, "c2", False),
                                                    (ReadsBeforeAdding, "act", False)])
def test_sums_that_share_a_signal_or_a_tensor_equal_autograd(net, layer, fast_path):
    """A ReLU ending one summand; `o += o`; `o += side` after a recorded op read o: the cone where it can run
    them (the first), autograd where it cannot (no plan), the same images either way."""
    model = net().eval()
    layers = build_graph(model, (3, 10, 10))
    fast, slow = Analyzer(model, layers), Analyzer(model, layers, fast=False)
    x = image(25, size=10)
    h = fast.forward(x).activation(layer).shape[-1]
    for _ in range(2):                                                  # traced, then replayed
        fpf, fps = fast.forward(x), slow.forward(x)
        t = [UnitTarget(layer, c, y, xx) for c in range(4) for (y, xx) in ((0, 0), (h // 2, 1), (h - 1, h - 1))]
        for m in Method:
            a, b = fast.attribute(fpf, t, m).images, slow.attribute(fps, t, m).images
            assert (fpf.plans[layer] is not None) == fast_path and b.abs().max() > 0
            assert (a - b).abs().max() <= 1e-5 * b.abs().max(), m


def test_only_a_path_that_is_not_a_chain_falls_back_to_autograd(allcnn, monkeypatch):
    """compile_chain's NotAChain means "use autograd" (the same images); any other error is a bug in the cone
    and is raised, not hidden behind the slow path."""
    from viewer.core import attribution
    from viewer.core.cone import NotAChain
    model, layers, _ = allcnn
    x, t = image(22), [ChannelTarget("conv6", 4), ChannelTarget("conv6", 9)]
    ref = Analyzer(model, layers, fast=False)
    want = ref.attribute(ref.forward(x), t, Method.GUIDED).images

    def refuse(*a, **k):
        raise NotAChain("unsupported order")
    monkeypatch.setattr(attribution, "compile_chain", refuse)
    an = Analyzer(model, layers)
    fp = an.forward(x)
    assert torch.equal(an.attribute(fp, t, Method.GUIDED).images, want) and fp.plans["conv6"] is None

    def broken(*a, **k):
        raise ValueError("a bug in the cone")
    monkeypatch.setattr(attribution, "compile_chain", broken)
    with pytest.raises(ValueError, match="a bug in the cone"):
        an.attribute(an.forward(x), t, Method.GUIDED)


def test_bf16_forward_is_close_to_fp32(allcnn):
    model, layers, an = allcnn
    an16 = Analyzer(model, layers, bf16_forward=True)
    x = image(19)
    fp, fp16 = an.forward(x), an16.forward(x)
    a, b = fp.activation("conv6"), fp16.activation("conv6")
    assert b.dtype == torch.float32
    assert (a - b).abs().max() <= 0.05 * a.abs().max()
    t = [ChannelTarget("conv3", int(fp.activation("conv3").amax((1, 2)).argmax()))]  # an active unit
    g, g16 = an.attribute(fp, t, Method.GRADIENT).images[0], an16.attribute(fp16, t, Method.GRADIENT).images[0]
    assert torch.nn.functional.cosine_similarity(g.flatten(), g16.flatten(), dim=0) > 0.95
    cam, gcam = gradcam.cam_and_guided(an16, fp16, 1, "conv6")  # autograd fallback under bf16 too
    assert cam.dtype == torch.float32 and gcam.dtype == torch.float32


class OddChain(nn.Module):
    """A chain the cone must get right beyond All-CNN-C: dilation, groups, a conv straight into a conv (no
    ReLU between, so its padding must be cleared by hand), stride 2 after a dilated conv, a 1-channel input."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.c1 = nn.Conv2d(1, 8, 3, padding=2, dilation=2)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.c3 = nn.Conv2d(8, 12, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(12)
        self.c4 = nn.Conv2d(12, 6, 1)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g) * 0.5
        self.bn.running_var.uniform_(0.5, 1.5, generator=g)

    def forward(self, x):
        x = torch.relu(self.c2(self.c1(x)))
        x = torch.relu(self.bn(self.c3(x)))
        return torch.relu(self.c4(x)).mean((2, 3))


@pytest.mark.parametrize("method", list(Method))
def test_cone_equals_autograd_on_dilated_grouped_unclipped_chains(method):
    model = OddChain().eval()
    layers = build_graph(model, (1, 15, 15))
    fast, slow = Analyzer(model, layers), Analyzer(model, layers, fast=False)
    x = image(20, size=15)[:, :1]
    fpf, fps = fast.forward(x), slow.forward(x)
    for layer in ("c3", "bn", "c4"):  # conv and BN outputs: seeds before a ReLU, BN folded into c3
        c, h, w = fps.outputs[layer].shape[1:]
        targets = [UnitTarget(layer, ch, y, xx) for ch in range(c) for (y, xx) in ((0, 0), (h - 1, w - 1), (h // 2, 1))]
        a, b = fast.attribute(fpf, targets, method).images, slow.attribute(fps, targets, method).images
        assert fpf.plans[layer] is not None
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()
        one = fast.attribute(fpf, targets[1:2], method).images
        assert (one[0] - b[1]).abs().max() <= 1e-5 * b.abs().max()


def test_cone_flops_of_a_conv6_unit_match_the_hand_count(allcnn):
    """2 x multiply-adds per transposed conv over its input window (forward weight Cout x Cin x 3 x 3):
    conv6 1x1, conv5 3x3, conv4 5x5, conv3 7x7, conv2 15x15, conv1 17x17 windows."""
    from viewer.core.cone import cone_flops
    _, _, an = allcnn
    fp = an.forward(image(21))
    plan = an._plan(fp, "conv6", fp.outputs["conv6"])
    by_hand = 2 * 9 * (192 * 192 * 1 + 192 * 192 * 9 + 192 * 96 * 25 + 96 * 96 * 49 + 96 * 96 * 225 + 96 * 3 * 289)
    assert by_hand == 61_881_408
    assert cone_flops(plan) == by_hand


class Pools(nn.Module):
    """Overlapping 3x3 stride-2 max-pooling with padding (Model C's), a 2x2 one, and a pool right after a conv."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 6, 3)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g) * 0.5

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.c1(x)), 3, stride=2, padding=1)
        x = nn.functional.max_pool2d(torch.relu(self.c2(x)), 2)
        x = F.max_pool2d(self.c3(x), 2, ceil_mode=True)   # a pool on a conv's output (no ReLU between)
        return torch.relu(x).mean((2, 3))


@pytest.mark.parametrize("method", list(Method))
def test_cone_through_max_pooling_equals_autograd(method):
    model = Pools().eval()
    layers = build_graph(model, (3, 27, 27))
    names = [l.name for l in layers]
    fast, slow = Analyzer(model, layers), Analyzer(model, layers, fast=False)
    x = image(21, size=27)
    fpf, fps = fast.forward(x), slow.forward(x)
    checked = 0
    for layer in ("c2", "c3"):
        c, h, w = fps.outputs[layer].shape[1:]
        targets = [UnitTarget(layer, ch, y, xx) for ch in range(c) for (y, xx) in ((0, 0), (h - 1, w - 1), (h // 2, 1))]
        a, b = fast.attribute(fpf, targets, method).images, slow.attribute(fps, targets, method).images
        assert fpf.plans[layer] is not None and any(st.kind == "maxpool" for st in fpf.plans[layer].steps)
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()
        one = fast.attribute(fpf, targets[1:2], method).images
        assert (one[0] - b[1]).abs().max() <= 1e-5 * b.abs().max()
        checked += 1
    assert checked == 2 and "c2" in names


@pytest.mark.parametrize("arch", ["model_c", "tiny_resnet"])
def test_units_of_many_images_at_once_equal_autograd_image_by_image(arch):
    """core/cone_images.py (the atlas's reconstructions): one forward over five images and one cone per layer and
    rule, each unit reading its own image's masks and max-pool switches (Model C) or crossing additions."""
    from viewer.core.cone_images import ImageUnit, reconstruct_images
    from viewer.nets import build_model
    model, size = (build_model("model_c").eval(), 32) if arch == "model_c" else (make_tiny_resnet(), 16)
    layers = build_graph(model, (3, size, size))
    fast, slow = Analyzer(model, layers), Analyzer(model, layers, fast=False)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(5, 3, size, size, generator=g)
    units = [ImageUnit(int(torch.randint(5, (1,), generator=g)), l.name, *(int(torch.randint(n, (1,), generator=g))
                                                                            for n in l.shape))
             for l in layers if len(l.shape) == 3 and l.shape[1] > 1 for _ in range(4)]
    _, done = reconstruct_images(fast, x, units, list(Method))
    import viewer.core.cone_images as ci
    ci.BUDGET_BYTES, budget = 1, ci.BUDGET_BYTES          # one unit per cone call: the same images
    try:
        _, one_by_one = reconstruct_images(Analyzer(model, layers), x, units, list(Method))
    finally:
        ci.BUDGET_BYTES = budget
    assert all(torch.allclose(one_by_one[n][m], done[n][m], atol=1e-6) for n in done for m in done[n])
    assert {"pool2", "conv5"} <= set(done) if arch == "model_c" else {"layer1.0", "layer1.1"} <= set(done)
    for layer, per in done.items():
        for m, imgs in per.items():
            for k, u in enumerate(v for v in units if v.layer == layer):
                ref = slow.attribute(slow.forward(x[u.image:u.image + 1]), [UnitTarget(layer, u.channel, u.y, u.x)],
                                     m).images[0]
                assert (imgs[k] - ref).abs().max() <= 1e-5 * max(float(ref.abs().max()), 1e-12), (layer, m, u)
