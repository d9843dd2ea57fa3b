"""The atlas scan's lean forward (core/lean.py) against the model's own forward read by plain PyTorch hooks."""
import numpy as np
import pytest
import torch
from torch import nn

from tests import nets
from viewer.core.attribution import Analyzer
from viewer.core.graph import build_graph
from viewer.core.lean import LeanForward
from viewer.nets import AllCNNC


def with_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():                      # BatchNorm that does something: folding it is visible
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
    return model.eval()


def hooked(model: nn.Module, layers, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each layer's output from forward hooks on its module: the reference."""
    got, handles = {}, []
    modules = dict(model.named_modules())
    for l in layers:
        handles.append(modules[l.module_name].register_forward_hook(
            lambda m, i, o, n=l.name: got.__setitem__(n, o.detach().clone())))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return got


def run(model, x, names=None):
    layers = [l for l in build_graph(model, tuple(x.shape[1:])) if len(l.shape) == 3]
    layers = [l for l in layers if names is None or l.name in names]
    lean = LeanForward(Analyzer(model, layers), [l.name for l in layers])
    first = lean(x)                                   # traced, the lean tape made and checked
    again = lean(x + 0.1)                             # the lean tape
    return layers, lean, first, again


@pytest.mark.parametrize("channels_last", [False, True])
def test_all_cnn_c_runs_lean_and_equals_its_own_forward(channels_last):
    torch.manual_seed(0)
    model = with_statistics(AllCNNC())
    x = torch.randn(5, 3, 32, 32)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    layers, lean, first, again = run(model, x)
    assert lean.lean                                   # the second call ran the lean tape
    tape = next(iter(lean._tapes.values()))
    names = [getattr(c.func, "__name__", "") for c in tape.calls]
    assert "batch_norm" not in names and names.count("clamp_min_") == 9   # every BatchNorm folded, ReLUs in place
    for got, inp in ((first, x), (again, x + 0.1)):
        want = hooked(model, layers, inp)
        for name, t in want.items():
            assert np.allclose(got[name].numpy(), t.numpy(), rtol=1e-5, atol=1e-5 * float(t.abs().max())), name


def test_a_residual_network_with_in_place_sums_equals_its_own_forward():
    model = nets.make_tiny_resnet()
    x = torch.randn(3, 3, 16, 16)
    layers, lean, _, again = run(model, x)
    assert lean.lean
    want = hooked(model, layers, x + 0.1)
    for name, t in want.items():
        assert torch.allclose(again[name], t, rtol=1e-5, atol=1e-5 * float(t.abs().max())), name


class ReadTwice(nn.Module):
    """A BatchNorm output read by its ReLU and by a sum (that ReLU not in place), and a convolution read by its
    BatchNorm and by a sum (that BatchNorm not folded)."""

    def __init__(self):
        super().__init__()
        self.c1, self.bn1 = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.c2, self.bn2 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.r1, self.r2 = nn.ReLU(), nn.ReLU()

    def forward(self, x):
        a = self.bn1(self.c1(x))
        b = self.r1(a) + a
        c = self.c2(b)
        return (self.r2(self.bn2(c)) + c).mean((2, 3))


def test_tensors_read_twice_are_neither_folded_away_nor_changed_in_place():
    model = with_statistics(ReadTwice())
    x = torch.randn(2, 3, 12, 12)
    layers, lean, _, again = run(model, x, {"r2"})      # only the last layer captured: the rest may be made lean
    want = hooked(model, layers, x + 0.1)
    assert list(want) == ["r2"] and lean.lean
    tape = next(iter(lean._tapes.values()))
    names = [getattr(c.func, "__name__", "") for c in tape.calls]
    assert names.count("batch_norm") == 1 and names.count("clamp_min_") == 1   # bn1 folded, r2 in place: no more
    assert torch.allclose(again["r2"], want["r2"], rtol=1e-5, atol=1e-6)


class InputWeight(nn.Module):
    """A convolution whose weight is computed from the input: folding it would keep the first batch's weight."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 3, 3, 3) * 0.3)
        self.bn, self.r = nn.BatchNorm2d(6), nn.ReLU()

    def forward(self, x):
        return self.r(self.bn(torch.nn.functional.conv2d(x, self.w * x.mean(), padding=1))).mean((2, 3))


class ClipBetween(nn.Module):
    """The convolution's input clipped in place after the convolution and before its BatchNorm: a fold moves the
    convolution after the clip."""

    def __init__(self):
        super().__init__()
        self.c0, self.c = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.bn, self.r = nn.BatchNorm2d(6), nn.ReLU()

    def forward(self, x):
        a = self.c0(x) + 0
        y = self.c(a)
        a.clamp_(max=0.5)
        return self.r(self.bn(y) + a).mean((2, 3))


@pytest.mark.parametrize("net", [InputWeight, ClipBetween])
def test_what_depends_on_the_input_or_changes_in_place_is_not_folded_across(net):
    """The first batch is small (the weight's scale, the clip, change nothing there): the check on it cannot tell."""
    torch.manual_seed(0)
    model = with_statistics(net())
    x = torch.randn(2, 3, 8, 8) * 0.1
    layers, lean, _, _ = run(model, x, {"r"})
    x2 = torch.randn(2, 3, 8, 8) * 30
    got, want = lean(x2)["r"], hooked(model, layers, x2)["r"]
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_layers_past_the_last_wanted_one_are_not_computed():
    torch.manual_seed(0)
    model = with_statistics(AllCNNC())
    x = torch.randn(2, 3, 32, 32)
    _, lean, _, again = run(model, x, {"conv2"})
    tape = next(iter(lean._tapes.values()))
    assert lean.lean and list(again) == ["conv2"]
    assert sum(getattr(c.func, "__name__", "") == "conv2d" for c in tape.calls) == 2


def test_a_model_that_cannot_be_replayed_is_run_by_the_analyzer():
    model = nets.FunctionalReLU().eval()
    x = torch.randn(2, 3, 16, 16)

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return self.inner(x) * (2.0 if float(x.mean()) > 10 else 1.0)   # data-dependent Python
    branchy = Branchy().eval()
    layers, lean, _, again = run(branchy, x)
    assert not lean.lean
    want = hooked(branchy, layers, x + 0.1)
    assert all(torch.equal(again[n], t) for n, t in want.items())
