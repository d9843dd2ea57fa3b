"""Every LRP composite equal to zennit's (the reference implementation, with the same canonization: BatchNorm
merged into the convolution before it, residual sums split by zennit's Norm rule), for unit and class targets,
on All-CNN-C, Model C (max-pooling), a torchvision ResNet and a model with in-place, reused and functional
ReLUs. zennit 0.5.1 imports torchvision: these run in CI's second environment (.ci/run)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

zennit = pytest.importorskip("zennit", reason="zennit (and torchvision) are in CI's second environment")
torchvision = pytest.importorskip("torchvision")
from zennit.canonizers import SequentialMergeBatchNorm  # noqa: E402
from zennit.composites import EpsilonAlpha2Beta1, EpsilonGammaBox, EpsilonPlusFlat  # noqa: E402
from zennit.torchvision import ResNetCanonizer  # noqa: E402

from viewer.core import lrp_rules as R  # noqa: E402
from viewer.core.attribution import Analyzer, ClassTarget, UnitTarget  # noqa: E402
from viewer.core.graph import build_graph  # noqa: E402
from viewer.core.lrp_method import Lrp, pixel_bounds  # noqa: E402
from viewer.nets import build_model  # noqa: E402

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


class Mixed(nn.Module):
    """BatchNorm, one in-place ReLU module reused, F.relu, torch.relu_, a max-pool and an adaptive average."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c3 = nn.Conv2d(8, 10, 1)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        h = self.act(self.b1(self.c1(x)))
        h = F.max_pool2d(h, 2)
        h = F.relu(self.b2(self.c2(h)))
        h = torch.relu_(self.c3(h))
        return self.fc(self.act(self.pool(h).flatten(1)))


def randomized(model):
    """Random weights and BatchNorm statistics (a trained network's are not zero-mean, unit-variance)."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.eps = 0.0   # zennit's merged BatchNorm keeps its eps, x / sqrt(1 + eps): not quite the identity
    return model.eval()


def models():
    resnet = torchvision.models.resnet18(num_classes=10)
    return [("allcnn", randomized(build_model("allcnn_c")), [SequentialMergeBatchNorm()], "conv6"),
            ("model_c", randomized(build_model("model_c")), [SequentialMergeBatchNorm()], "conv4"),
            ("resnet18", randomized(resnet), [ResNetCanonizer()], "layer2.1"),
            ("mixed", randomized(Mixed()), [SequentialMergeBatchNorm()], "b2")]


def zennit_relevance(model, composite, x, layer_module, seed_of):
    """zennit's input relevance: a forward in its composite's context, the seed put at the layer's output."""
    captured = {}
    handle = layer_module.register_forward_hook(lambda m, i, o: captured.__setitem__("out", o))
    try:
        with composite.context(model) as modified:
            xx = x.clone().requires_grad_()
            logits = modified(xx)
            out = logits if layer_module is None or "out" not in captured else captured["out"]
            (rel,) = torch.autograd.grad(out, xx, seed_of(out))
    finally:
        handle.remove()
    return rel


def composites(low, high):
    return [(R.EPSILON_PLUS_FLAT, lambda c: EpsilonPlusFlat(canonizers=c)),
            (R.EPSILON_GAMMA_BOX, lambda c: EpsilonGammaBox(low=low, high=high, canonizers=c)),
            (R.EPSILON_ALPHA2_BETA1, lambda c: EpsilonAlpha2Beta1(canonizers=c))]


@pytest.mark.parametrize("name,model,canon,layer", models(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_composite_equals_zennit_for_a_class_and_a_unit(name, model, canon, layer):
    size = 32
    low, high = pixel_bounds(MEAN, STD, 3)
    an = Analyzer(model, build_graph(model, (3, size, size)))
    an.pixel_bounds = (low, high)
    torch.manual_seed(1)
    x = (torch.rand(1, 3, size, size) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    fp = an.forward(x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    module = dict(model.named_modules())[layer]
    cls = int(fp.logits.argmax())
    act = fp.activation(layer)
    ch = int(act.flatten(1).max(1).values.argmax())
    y, xx = divmod(int(act[ch].argmax()), act.shape[-1])
    for ours, theirs in composites(low, high):
        mine = Lrp(ours).reconstruct(an, fp, [ClassTarget(cls), UnitTarget(layer, ch, y, xx)]).images

        def class_seed(out):
            s = torch.zeros_like(out)
            s[0, cls] = out[0, cls].detach()
            return s

        def unit_seed(out):
            s = torch.zeros_like(out)
            s[0, ch, y, xx] = out[0, ch, y, xx].detach()
            return s
        ref_class = zennit_relevance(model, theirs(canon), x, model, class_seed)
        ref_unit = zennit_relevance(model, theirs(canon), x, module, unit_seed)
        for got, ref in ((mine[0], ref_class[0]), (mine[1], ref_unit[0])):
            scale = ref.abs().max()
            assert scale > 0
            assert (got - ref).abs().max() <= 1e-5 * scale, (ours.name, float((got - ref).abs().max() / scale))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_concept_relevance_equals_zennit_crp():
    """Each channel's relevance for the class at conv6 and the conditional heat maps of a few channels, against
    zennit-crp's CondAttribution (relevance put in: the logit, its default)."""
    crp = pytest.importorskip("crp.attribution", reason="zennit-crp is in CI's second environment")
    from viewer.core.concepts import concept_relevance
    model = randomized(build_model("allcnn_c"))
    an = Analyzer(model, build_graph(model, (3, 32, 32)))
    torch.manual_seed(2)
    x = torch.randn(1, 3, 32, 32)
    fp = an.forward(x)
    cls = int(fp.logits.argmax())
    channels = [int(c) for c in fp.activation("conv6").flatten(1).max(1).values.argsort(descending=True)[:3]]
    ours = concept_relevance(an, fp, R.EPSILON_PLUS_FLAT, "conv6", cls, channels)
    attribution = crp.CondAttribution(model, no_param_grad=True)
    composite = EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])
    ref = attribution(x.clone().requires_grad_(), [{"y": [cls]}], composite, record_layer=["conv6"])
    r_c = ref.relevances["conv6"][0].flatten(1).sum(1)
    assert float(ours.put_in) == pytest.approx(float(fp.logits[0, cls]), rel=1e-6)
    assert torch.allclose(ours.channels, r_c, rtol=1e-4, atol=1e-5 * float(r_c.abs().max()))
    for k, c in enumerate(channels):
        heat = attribution(x.clone().requires_grad_(), [{"conv6": [c], "y": [cls]}], composite).heatmap[0]
        mine = ours.conditional[k].sum(0)
        assert (mine - heat).abs().max() <= 1e-5 * heat.abs().max(), c


def cone_models():
    """Layers whose path from the input is a chain (the LRP cone runs them), seeds at corners and inside."""
    return [("allcnn-conv3", randomized(build_model("allcnn_c")), [SequentialMergeBatchNorm()], "conv3"),
            ("allcnn-conv6", randomized(build_model("allcnn_c")), [SequentialMergeBatchNorm()], "conv6"),
            ("model_c-conv2", randomized(build_model("model_c")), [SequentialMergeBatchNorm()], "conv2"),
            ("model_c-conv4", randomized(build_model("model_c")), [SequentialMergeBatchNorm()], "conv4"),
            ("model_c-pool2", randomized(build_model("model_c")), [SequentialMergeBatchNorm()], "pool2"),
            ("mixed-b1", randomized(Mixed()), [SequentialMergeBatchNorm()], "b1"),
            ("resnet18-bn1", randomized(torchvision.models.resnet18(num_classes=10)), [ResNetCanonizer()], "bn1")]


@pytest.mark.parametrize("name,model,canon,layer", cone_models(), ids=lambda v: v if isinstance(v, str) else "")
def test_several_units_through_the_cone_equal_zennit(name, model, canon, layer):
    from viewer.core.lrp_cone import lrp_plan
    low, high = pixel_bounds(MEAN, STD, 3)
    an = Analyzer(model, build_graph(model, (3, 32, 32)))
    an.pixel_bounds = (low, high)
    torch.manual_seed(2)
    x = (torch.rand(1, 3, 32, 32) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    fp = an.forward(x)
    act = fp.activation(layer)
    c, h, w = act.shape
    at = [(0, 0), (h - 1, w - 1), (h // 2, 1), (0, w - 1)]   # corners: windows reaching into the padding
    units = [UnitTarget(layer, int(act[:, y, xx].argmax()), y, xx) for y, xx in at] + [UnitTarget(layer, 0, 1, 1)]
    module = dict(model.named_modules())[layer]
    active = 0
    for ours, theirs in composites(low, high):
        assert lrp_plan(fp.ops, fp.x, fp.output(layer), ours, an.pixel_bounds, fp.lrp) is not None  # the cone ran
        mine = Lrp(ours).reconstruct(an, fp, units).images
        for k, u in enumerate(units):
            def unit_seed(out, u=u):
                s = torch.zeros_like(out)
                s[0, u.channel, u.y, u.x] = out[0, u.channel, u.y, u.x].detach()
                return s
            ref = zennit_relevance(model, theirs(canon), x, module, unit_seed)[0]
            scale = ref.abs().max()
            if scale == 0:   # an inactive unit: nothing put in
                assert mine[k].abs().max() == 0
                continue
            active += 1
            assert (mine[k] - ref).abs().max() <= 1e-5 * scale, (ours.name, k, float((mine[k] - ref).abs().max() / scale))
    assert active >= 6   # most seeds put relevance in
