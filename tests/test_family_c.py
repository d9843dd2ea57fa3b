"""The paper's comparison networks (viewer/nets/family_c.py): sizes, hand-counted parameters, and deconvnet
through max-pooling switches against autograd with hooks and against Captum."""
import pytest
import torch
from torch import nn

from viewer.core.attribution import Analyzer, ChannelTarget, UnitTarget
from viewer.core.graph import build_graph
from viewer.core.rules import Method
from viewer.nets import PAPER_FAMILY, build_model


def conv(cin, cout, k):
    return cin * cout * k * k + cout  # weights + biases


# Springenberg et al. 2015, Tables 1 and 2, counted by hand layer by layer (no BatchNorm)
HEAD = conv(192, 192, 3) + conv(192, 192, 1) + conv(192, 10, 1)            # 331,968 + 37,056 + 1,930
MODEL_C = conv(3, 96, 3) + conv(96, 96, 3) + conv(96, 192, 3) + conv(192, 192, 3) + HEAD
CONVPOOL = conv(3, 96, 3) + 2 * conv(96, 96, 3) + conv(96, 192, 3) + 2 * conv(192, 192, 3) + HEAD


def test_hand_counts_are_the_issue_s_numbers():
    assert MODEL_C == 954_730 and CONVPOOL == 1_369_738


@pytest.mark.parametrize("arch, count", [("model_c", MODEL_C), ("strided_cnn_c", MODEL_C),
                                         ("convpool_cnn_c", CONVPOOL), ("allcnn_c", CONVPOOL)])
def test_parameter_counts_match_the_hand_count(arch, count):
    assert sum(p.numel() for p in build_model(arch, bn=False).parameters()) == count


@pytest.mark.parametrize("arch", PAPER_FAMILY)
def test_every_variant_ends_at_6x6_for_a_32x32_input(arch):
    layers = build_graph(build_model(arch).eval())
    assert layers[-2].shape == (10, 6, 6) and layers[-1].shape == (10, 1, 1)


def test_model_c_layers_as_table_1():
    layers = build_graph(build_model("model_c").eval())
    assert [(l.name, l.shape) for l in layers] == [
        ("conv1", (96, 32, 32)), ("conv2", (96, 32, 32)), ("pool1", (96, 16, 16)), ("conv3", (192, 16, 16)),
        ("conv4", (192, 16, 16)), ("pool2", (192, 8, 8)), ("conv5", (192, 6, 6)), ("conv6", (192, 6, 6)),
        ("conv7", (10, 6, 6)), ("pool", (10, 1, 1))]
    # a 3x3 max-pool with stride 2 grows the receptive field like All-CNN-C's stride-2 convolution: 3, 5, 7
    assert [l.rf.size[0] for l in layers[:6]] == [3, 5, 7, 11, 15, 19]


def test_strided_and_convpool_layers():
    strided = build_graph(build_model("strided_cnn_c").eval())
    assert [l.name for l in strided] == [f"conv{i}" for i in range(1, 8)] + ["pool"]
    assert [l.shape[1] for l in strided[:4]] == [32, 16, 16, 8]
    convpool = build_graph(build_model("convpool_cnn_c").eval())
    assert [l.name for l in convpool][:8] == ["conv1", "conv2", "conv3", "pool1", "conv4", "conv5", "conv6", "pool2"]


def trained_like(arch, seed=0):
    torch.manual_seed(seed)
    m = build_model(arch).eval()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_var.uniform_(0.05, 0.2)  # keep a random net's activations lively
    return m


def hooked_deconvnet(model, layer, x, c, y, xx):
    """Deconvnet the textbook way: a backward hook on every nn.ReLU passes only the positive part of the
    signal coming down (R_in = max(R_out, 0), whatever the forward was); max-pool and convolution are
    autograd's own backward (pooling switches kept)."""
    hooks = [m.register_full_backward_hook(lambda mod, gin, gout: (gout[0].clamp(min=0),))
             for m in model.modules() if isinstance(m, nn.ReLU)]
    out = {}
    h = layer.register_forward_hook(lambda mod, i, o: out.setdefault("a", o))
    try:
        xg = x.clone().requires_grad_(True)
        model(xg)
        (g,) = torch.autograd.grad(out["a"][0, c, y, xx], xg)
    finally:
        for k in hooks + [h]:
            k.remove()
    return g[0]


@pytest.mark.parametrize("layer_name, channel", [("conv4", 11), ("conv5", 3), ("pool2", 40)])
def test_deconvnet_through_max_pooling_equals_hooked_autograd(layer_name, channel):
    model = trained_like("model_c")
    an = Analyzer(model, build_graph(model))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    fp = an.forward(x)
    unit = an.resolve(fp, ChannelTarget(layer_name, channel))
    ours = an.attribute(fp, [unit], Method.DECONVNET).images[0]
    ref = hooked_deconvnet(model, getattr(model, layer_name), x, unit.channel, unit.y, unit.x)
    assert ours.abs().max() > 0
    assert torch.allclose(ours, ref, atol=1e-6, rtol=1e-5), (ours - ref).abs().max()


def test_deconvnet_and_guided_through_max_pooling_equal_captum():
    captum = pytest.importorskip("captum.attr")
    import warnings
    warnings.filterwarnings("ignore", module="captum")
    model = trained_like("model_c", seed=2)
    an = Analyzer(model, build_graph(model))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    fp = an.forward(x)
    h = model.conv5.register_forward_hook(lambda mod, i, o: acts.append(o))
    acts = []
    model(x)
    h.remove()
    strongest = int(acts[0][0].amax((1, 2)).argmax())  # an active unit: guided backprop is not zero there
    unit = an.resolve(fp, ChannelTarget("conv5", strongest))
    sel = (unit.channel, unit.y, unit.x)
    for method, cls in ((Method.DECONVNET, captum.NeuronDeconvolution), (Method.GUIDED, captum.NeuronGuidedBackprop)):
        ours = an.attribute(fp, [unit], method).images[0]
        theirs = cls(model, model.conv5).attribute(x.clone(), neuron_selector=sel)[0]
        assert ours.abs().max() > 0
        assert torch.allclose(ours, theirs, atol=1e-6, rtol=1e-5), (method, (ours - theirs).abs().max())


@pytest.mark.parametrize("arch, layer_name, depends", [("model_c", "conv5", True), ("allcnn_c", "conv7", False)])
def test_deconvnet_follows_the_image_only_through_max_pooling_switches(arch, layer_name, depends):
    """The paper's argument (section 3.4): deconvnet's backward ReLU ignores the forward pass, and convolution
    and BatchNorm are linear, so in All-CNN-C a unit's deconvnet image is the same for every input; in Model C
    the max-pooling switches route it, so it follows the image."""
    model = trained_like(arch, seed=3)
    an = Analyzer(model, build_graph(model))
    gen = torch.Generator().manual_seed(7)
    unit = UnitTarget(layer_name, 5, 3, 2)
    ra, rb = (an.attribute(an.forward(torch.randn(1, 3, 32, 32, generator=gen)), [unit],
                           Method.DECONVNET).images[0] for _ in range(2))
    assert ra.abs().max() > 0
    same = torch.allclose(ra, rb, atol=1e-6, rtol=1e-5)
    assert same is not depends
