"""The replayed forward (replay.py) against the traced one it replaces: same outputs, same reconstructions,
refused where replaying could be wrong."""
import nets
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from viewer.core.attribution import Analyzer, ChannelTarget, ClassTarget
from viewer.core.graph import build_graph
from viewer.core.rules import Method
from viewer.nets import AllCNNC


def allcnn():
    torch.manual_seed(0)
    return AllCNNC().eval()


MODELS = {"allcnn": allcnn, "plain": nets.PlainReLU, "inplace": nets.InplaceReLU, "shared": nets.SharedReLU,
          "functional": nets.FunctionalReLU, "resnet": nets.make_tiny_resnet, "norelu": nets.NoReLU}


def pair(model, size=16):
    layers = build_graph(model, (3, size, size))
    return layers, Analyzer(model, layers), Analyzer(model, layers, replay=False)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_replayed_pass_equals_the_traced_pass(name):
    model = MODELS[name]()
    layers, fast, traced = pair(model)
    g = torch.Generator().manual_seed(1)
    fast.forward(torch.rand(1, 3, 16, 16, generator=g))          # records and checks the tape
    assert fast.replay_refused == "" and any(t is not None for t in fast._tapes.values())
    for _ in range(2):                                           # later frames: replayed
        x = torch.rand(1, 3, 16, 16, generator=g)
        a, b = traced.forward(x), fast.forward(x)
        assert a.outputs.keys() == b.outputs.keys()
        for k in a.outputs:
            assert torch.equal(a.outputs[k], b.outputs[k]), k
        assert torch.equal(a.logits, b.logits)
        spatial = [l for l in layers if len(l.shape) == 3]
        for method in (Method.GUIDED, Method.GRADIENT) if name != "norelu" else (Method.GRADIENT,):
            some = spatial if method is Method.GRADIENT else [l for l in spatial if b.relus_before[l.name]]
            targets = [ChannelTarget(l.name, c) for l in some for c in range(min(3, l.shape[0]))]
            assert targets
            ra, rb = traced.attribute(a, targets, method), fast.attribute(b, targets, method)
            assert torch.equal(ra.images, rb.images), method
            assert ra.units == rb.units
        assert torch.equal(traced.attribute(a, [ClassTarget(1)], Method.GRADIENT).images,
                           fast.attribute(b, [ClassTarget(1)], Method.GRADIENT).images)
    if name == "allcnn":  # the cone path, not the autograd fallback, serves the replayed pass
        assert b.plans["conv6"] is not None


def test_in_place_ops_keep_the_captured_outputs_intact():
    """The residual `out += x` changes a tensor in place: the replay keeps the protecting clones."""
    model = nets.make_tiny_resnet()
    layers, fast, traced = pair(model)
    fast.forward(torch.rand(1, 3, 16, 16))
    tape = next(t for t in fast._tapes.values() if t is not None)[0]
    assert not any(c.alias for c in tape.calls)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        stem = model.stem(x)  # the stem's output as the model computes it, before any block adds to it
    assert torch.allclose(fast.forward(x).outputs["stem.2"], stem, atol=1e-6)


class OneConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)


class Branchy(OneConv):
    """Control flow on the data: a tape of one frame would be wrong for the other branch."""

    def forward(self, x):
        y = F.relu(self.c(x))
        return (y * 2 if y.mean() > 0.5 else -y).mean((2, 3))


class ViaNumpy(OneConv):
    """A round trip through numpy: the tape cannot see what happens outside torch."""

    def forward(self, x):
        y = F.relu(self.c(x))
        return torch.from_numpy(y.detach().numpy() * 2).mean((2, 3))


@pytest.mark.parametrize("model_cls", [Branchy, ViaNumpy])
def test_data_dependent_python_values_refuse_the_tape(model_cls):
    torch.manual_seed(0)
    model = model_cls().eval()
    layers, fast, _ = pair(model)
    fast.forward(torch.zeros(1, 3, 16, 16))
    assert fast.replay_refused and all(t is None for t in fast._tapes.values())
    for x in (torch.zeros(1, 3, 16, 16), torch.full((1, 3, 16, 16), 5.0), -torch.ones(1, 3, 16, 16)):
        with torch.no_grad():
            assert torch.allclose(fast.forward(x).logits, model(x))   # traced every time: always right


def test_a_new_input_size_records_a_new_tape():
    model = allcnn()
    layers, fast, traced = pair(model, 32)
    for size in (32, 40, 32, 40):
        x = torch.rand(1, 3, size, size)
        assert torch.equal(fast.forward(x).logits, traced.forward(x).logits)
    assert len(fast._tapes) == 2 and all(t is not None for t in fast._tapes.values())


def test_new_weights_are_seen_and_forget_replays_sees_a_new_hook():
    model = allcnn()
    layers, fast, traced = pair(model, 32)
    x = torch.rand(1, 3, 32, 32)
    fast.forward(x)
    t = [ChannelTarget("conv6", c) for c in range(0, 192, 8)]
    fast.attribute(fast.forward(x), t, Method.GUIDED)      # folds conv6..conv1's BatchNorms into the cache
    with torch.no_grad():
        model.conv9.conv.weight.mul_(-1.0)                   # in place: the replay reads the same tensor
        model.conv2.bn.running_var.mul_(3.0)                 # and the cone refolds a changed BatchNorm
    a, b = fast.forward(x), traced.forward(x)
    assert torch.equal(a.logits, b.logits)
    assert torch.allclose(fast.attribute(a, t, Method.GUIDED).images,
                          Analyzer(model, layers, fast=False).attribute(b, t, Method.GUIDED).images, atol=1e-6)
    h = model.conv5.register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    try:
        fast.forget_replays()                                # the hook changes what the model computes
        zeroed = fast.forward(x)
        assert float(zeroed.outputs["conv5"].abs().max()) == 0.0
        assert float(fast.forward(x).outputs["conv5"].abs().max()) == 0.0   # and its new tape agrees
    finally:
        h.remove()


def test_replay_under_bf16_autocast_equals_the_traced_pass():
    model = nets.PlainReLU().eval()
    layers = build_graph(model, (3, 16, 16))
    fast, traced = Analyzer(model, layers, bf16_forward=True), Analyzer(model, layers, bf16_forward=True, replay=False)
    g = torch.Generator().manual_seed(2)
    fast.forward(torch.rand(1, 3, 16, 16, generator=g))
    assert fast.replay_refused == "" and any(t is not None for t in fast._tapes.values())
    x = torch.rand(1, 3, 16, 16, generator=g)
    a, b = traced.forward(x), fast.forward(x)
    assert b.outputs["c3"].dtype == torch.bfloat16          # autocast really ran in the replay
    for k in a.outputs:
        assert torch.equal(a.outputs[k], b.outputs[k]), k
