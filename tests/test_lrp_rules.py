"""Each LRP rule against numbers worked out by hand on a 2-input, 2-output dense layer, and the LRP pass's
promises: conservation without biases, the model untouched, unsupported calls named."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from viewer.core import lrp_rules as R
from viewer.core.attribution import Analyzer, ChannelTarget, ClassTarget
from viewer.core.graph import build_graph
from viewer.core.lrp_method import Lrp, conservation
from viewer.core.targets import AttributionError

# a = (1, 2); W = [[1, -1], [2, 1]] (out x in); b = (0.5, -1): z = (1 - 2 + 0.5, 2 + 2 - 1) = (-0.5, 3); R = (1, 2)
A = torch.tensor([[1.0, 2.0]])
W = torch.tensor([[1.0, -1.0], [2.0, 1.0]])
B = torch.tensor([0.5, -1.0])
RIN = torch.tensor([[1.0, 2.0]])


def rel(rule):
    layer = R.Layer(A, W, B, lambda a, w, b: F.linear(a, w, b), lambda s, w: s @ w)
    return rule.relevance(layer, RIN)[0].tolist()


def test_lrp0():
    # s = R / z = (-2, 2/3); back = s @ W = (-2 + 4/3, 2 + 2/3); R_j = a_j * back = (-2/3, 16/3)
    assert rel(R.LRP0) == pytest.approx([-2 / 3, 16 / 3], rel=1e-6)


def test_epsilon():
    # eps 0.1: stab(z) = (-0.6, 3.1); s = (-5/3, 2/3.1); back = (-5/3 + 4/3.1, 5/3 + 2/3.1); times a
    rule = R.Rule("e", "e", "epsilon", eps=0.1)
    assert rel(rule) == pytest.approx([-5 / 3 + 4 / 3.1, 2 * (5 / 3 + 2 / 3.1)], rel=1e-6)


def test_zplus():
    # a >= 0: z+ = a W+ + b+ = (1 + 0.5, 2 + 2) = (1.5, 4); s = (2/3, 1/2); back(s, W+) = (2/3 + 1, 1/2); times a
    assert rel(R.ZPLUS) == pytest.approx([5 / 3, 1.0], rel=1e-5)


def test_alpha2_beta1():
    # positive part as z+: (5/3, 1); negative: z- = a W- + b- = (-2, -1); s = (-1/2, -2); back(s, W-) = (0, 1/2);
    # times a: (0, 1); 2 * (5/3, 1) - (0, 1)
    assert rel(R.ALPHA2BETA1) == pytest.approx([10 / 3, 1.0], rel=1e-5)
    assert rel(R.ALPHA1BETA0) == pytest.approx(rel(R.ZPLUS), rel=1e-6)


def test_gamma():
    # gamma 0.25. z = (-0.5, 3). Output 1 (z > 0): weights W + g W+ = [2.5, 1.25], bias -1: denominator 2.5 + 2.5 - 1
    # = 4, s = 2/4. Output 0 (z < 0): weights W + g W- = [1, -1.25], bias 0.5: denominator 1 - 2.5 + 0.5 = -1, s = -1.
    # R_j = a_j (0.5 * [2.5, 1.25] + (-1) * [1, -1.25]) = (1 * 0.25, 2 * 1.875)
    assert rel(R.GAMMA) == pytest.approx([0.25, 3.75], rel=1e-5)


def test_zbox():
    # low 0, high 3: z = (a W + b) - (0 W+ + b+) - (3 W- + b-) = (-0.5 - 0.5 + 3, 3 - 0 + 1) = (2, 4); s = (1/2, 1/2);
    # R_j = a_j (s W)_j - 0 - 3 (s W-)_j = (1 * 1.5, 2 * 0) - 3 * (0, -0.5)
    rule = R.ZBOX.with_bounds(torch.zeros(1, 2), torch.full((1, 2), 3.0))
    assert rel(rule) == pytest.approx([1.5, 1.5], rel=1e-5)


def test_flat():
    # every output sees both inputs: z = (2, 2); s = (1/2, 1); each input gets 1/2 + 1
    assert rel(R.FLAT) == pytest.approx([1.5, 1.5], rel=1e-5)


class NoBias(nn.Module):
    """Convolutions without biases, a reused in-place ReLU, F.relu, a max-pool, a residual sum, a spatial mean."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1, self.c2, self.c3 = (nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Conv2d(8, 8, 3, padding=1, bias=False),
                                     nn.Conv2d(8, 5, 1, bias=False))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.act(self.c1(x))
        h = F.max_pool2d(h, 2)
        h = h + F.relu(self.c2(h))
        return self.act(self.c3(h)).mean((2, 3))


@pytest.mark.parametrize("composite", [R.LRP_ZERO, R.EPSILON_PLUS])
def test_without_biases_the_input_relevance_sums_to_what_was_put_in(composite):
    model = NoBias().eval()
    an = Analyzer(model, build_graph(model, (3, 12, 12)))
    torch.manual_seed(1)
    fp = an.forward(torch.rand(1, 3, 12, 12))
    att = Lrp(composite).reconstruct(an, fp, [ClassTarget(int(fp.logits.argmax()))])
    put_in, reached = conservation(att, 0)
    assert put_in == pytest.approx(float(fp.logits.max()))
    assert reached == pytest.approx(put_in, rel=1e-4)


def test_the_model_is_untouched_and_an_unsupported_call_is_named():
    class Gated(NoBias):
        def forward(self, x):
            h = self.act(self.c1(x))
            return (h * torch.sigmoid(h)).mean((2, 3))    # a product of two activations: no LRP rule
    for model in (NoBias().eval(), Gated().eval()):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        flags = [p.requires_grad for p in model.parameters()]
        an = Analyzer(model, build_graph(model, (3, 12, 12)))
        fp = an.forward(torch.rand(1, 3, 12, 12))
        below = Lrp(R.EPSILON_PLUS_FLAT).reconstruct(an, fp, [ChannelTarget("c1", 0)])   # below the product: fine
        assert below.images.abs().sum() > 0 or below.values[0] == 0
        if isinstance(model, Gated):
            with pytest.raises(AttributionError, match="LRP has no rule for (mul|__mul__)"):
                Lrp(R.EPSILON_PLUS_FLAT).reconstruct(an, fp, [ClassTarget(0)])
        else:
            Lrp(R.EPSILON_PLUS_FLAT).reconstruct(an, fp, [ClassTarget(0)])
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert [p.requires_grad for p in model.parameters()] == flags
        assert all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_a_batchnorm_above_the_seed_changes_nothing_below_it():
    """A unit at a convolution's own output is explained by that convolution: the BatchNorm after it (merged
    into it when relevance comes through it) must not be merged for a seed below it."""
    torch.manual_seed(3)
    c1, c2, bn = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
    bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)

    class Net(nn.Module):
        def __init__(self, with_bn):
            super().__init__()
            self.c1, self.c2, self.bn, self.with_bn = c1, c2, bn, with_bn

        def forward(self, x):
            h = self.c2(F.relu(self.c1(x)))
            return F.relu(self.bn(h) if self.with_bn else h).mean((2, 3))
    x = torch.randn(1, 3, 8, 8)
    images = []
    for with_bn in (True, False):
        model = Net(with_bn).eval()
        an = Analyzer(model, build_graph(model, (3, 8, 8)))
        images.append(Lrp(R.EPSILON_PLUS_FLAT).reconstruct(an, an.forward(x), [ChannelTarget("c2", 1)]).images)
    assert images[0].abs().sum() > 0 and torch.allclose(images[0], images[1], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("composite", R.COMPOSITES, ids=lambda c: c.name)
def test_the_cone_equals_the_lrp_pass_for_every_composite(composite):
    """The cone (windows, gathers, merged BatchNorm, padding) against the LRP pass through autograd (fast=False),
    for units at the corners of a stride-2 layer and a deep one, one at a time and batched."""
    from viewer.core.attribution import UnitTarget
    from viewer.core.lrp_method import pixel_bounds
    from viewer.nets import build_model
    torch.manual_seed(4)
    model = build_model("allcnn_c").eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3), m.running_var.uniform_(0.5, 2.0), m.bias.data.uniform_(-0.2, 0.2)
    bounds = pixel_bounds((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3)
    pooled = build_model("model_c").eval()
    cases = [(model, ("conv3", "conv6")), (pooled, ("conv4", "pool2", "conv6"))]   # Model C: through max-pools
    for model, names in cases:
        _cone_equals_the_pass(model, names, composite, bounds)


def _cone_equals_the_pass(model, names, composite, bounds):
    from viewer.core.attribution import UnitTarget
    fast, slow = (Analyzer(model, build_graph(model), fast=f, pixel_bounds=bounds) for f in (True, False))
    x = torch.rand(1, 3, 32, 32) * 4 - 2
    fpf, fps = fast.forward(x), slow.forward(x)
    for layer in names:
        act = fpf.activation(layer)
        h, w = act.shape[1:]
        units = [UnitTarget(layer, int(act[:, y, xx].argmax()), y, xx) for y, xx in
                 [(0, 0), (h - 1, w - 1), (h // 2, 1), (0, w - 1), (h - 1, 0)]]
        batched = Lrp(composite).reconstruct(fast, fpf, units)
        assert any(key[0] == "cone-terms" for key in fpf.lrp if isinstance(key, tuple))   # the cone ran
        for k, u in enumerate(units):
            ref = Lrp(composite).reconstruct(slow, fps, [u]).images[0]
            fresh = fast.forward(x)   # a new frame: one unit runs on its windows only (no frame-wide terms)
            one = Lrp(composite).reconstruct(fast, fresh, [u]).images[0]
            assert not any(key[0] == "cone-terms" for key in fresh.lrp if isinstance(key, tuple))
            scale = ref.abs().max()
            assert scale > 0
            # LRP-0 divides by an unstabilised z: a window's convolution rounds z differently, and near z = 0 that
            # is amplified (1.1e-5 seen on All-CNN-C, 4.9e-4 on Model C's deeper layers); every stabilised
            # composite agrees within 1e-5
            tol = 1e-3 if composite is R.LRP_ZERO else 1e-5
            for got in (batched.images[k], one):
                assert (got - ref).abs().max() <= tol * scale


def test_many_cone_calls_on_one_frame_give_the_same_maps():
    """Plans of several layers made and freed on one frame (the atlas's pattern): a freed plan's ids are reused,
    and a cache keyed by them once handed a max-pool step another step's indices (a wrong map, or an IndexError)."""
    from viewer.core.attribution import ChannelTarget
    from viewer.nets import build_model
    torch.manual_seed(6)
    model = build_model("model_c").eval()
    an = Analyzer(model, build_graph(model))
    fp = an.forward(torch.rand(1, 3, 32, 32))
    lrp = Lrp(R.EPSILON_PLUS_FLAT)
    first = {}
    for i in range(40):
        layer = ("conv4", "pool2", "conv6", "pool1")[i % 4]
        units = [ChannelTarget(layer, c) for c in (3, 11, 23)]
        got = lrp.reconstruct(an, fp, units).images
        if layer in first:
            assert torch.equal(got, first[layer]), (i, layer)
        else:
            first[layer] = got
