"""No hooks, flags, .grad or mutation left behind, even when a call raises; core stays free of pygame/cv2."""
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from nets import make_tiny_resnet

from viewer.core import gradcam
from viewer.core.attribution import (
    Analyzer,
    AttributionError,
    ChannelTarget,
    ClassTarget,
)
from viewer.core.graph import build_graph
from viewer.core.rules import Method
from viewer.nets import AllCNNC


def hook_count(model):
    n = 0
    for m in model.modules():
        n += len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        n += len(getattr(m, "_backward_pre_hooks", {}))
    return n


def snapshot(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [p.grad for p in model.parameters()], {k: v.clone() for k, v in model.state_dict().items()},
            hook_count(model))


def assert_same(model, snap):
    training, req, grads, state, hooks = snap
    assert [m.training for m in model.modules()] == training
    assert [p.requires_grad for p in model.parameters()] == req
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert hook_count(model) == hooks
    assert not torch.overrides._is_torch_function_mode_enabled()


@pytest.mark.parametrize("make", [lambda: AllCNNC(), make_tiny_resnet])
def test_no_trace_after_calls(make):
    model = make()
    model.train()  # the user's model was in train mode: it must stay so
    snap = snapshot(model)
    layers = build_graph(model, (3, 16, 16))
    an = Analyzer(model, layers)
    x = torch.randn(1, 3, 16, 16)
    x_copy = x.clone()
    fp = an.forward(x)
    before = {l.name: fp.activation(l.name).clone() for l in layers}
    last_spatial = [l.name for l in layers if len(l.shape) == 3][-1]
    for method in Method:
        an.attribute(fp, [ChannelTarget(last_spatial, 0), ClassTarget(1)], method)
    gradcam.cam_and_guided(an, fp, 1, last_spatial)
    assert torch.equal(x, x_copy)
    for name, act in before.items():
        assert torch.equal(fp.activation(name), act)
    assert_same(model, snap)


def test_no_trace_after_raising_calls():
    model = AllCNNC()
    snap = snapshot(model)
    an = Analyzer(model, build_graph(model))
    fp = an.forward(torch.randn(1, 3, 32, 32))
    with pytest.raises(AttributionError):
        an.attribute(fp, [ChannelTarget("conv6", 999)], Method.GUIDED)
    with pytest.raises(RuntimeError):  # wrong channel count: the model raises mid-forward
        an.forward(torch.randn(1, 4, 32, 32))
    with pytest.raises(RuntimeError):
        build_graph(model, (4, 32, 32))
    assert_same(model, snap)


def test_the_rule_is_reset_when_a_backward_pass_raises(monkeypatch):
    """attribute() sets the forward pass's rule to the method for its backward pass: an error inside that
    backward (here autograd.grad itself) must leave the rule as it was, or later passes use the wrong one."""
    model = AllCNNC()
    an = Analyzer(model, build_graph(model), fast=False)  # the autograd path, where the rule is read
    fp = an.forward(torch.randn(1, 3, 32, 32))
    assert fp.state.method is Method.GRADIENT
    seen = []

    def failing_grad(*args, **kwargs):
        seen.append(fp.state.method)
        raise RuntimeError("out of memory (simulated)")
    monkeypatch.setattr(torch.autograd, "grad", failing_grad)
    with pytest.raises(RuntimeError, match="simulated"):
        an.attribute(fp, [ChannelTarget("conv6", 3)], Method.GUIDED)
    assert seen == [Method.GUIDED]               # the rule was switched for the backward pass...
    assert fp.state.method is Method.GRADIENT    # ...and switched back after it raised


def test_core_imports_no_pygame_or_cv2():
    code = ("import sys, viewer.core, viewer.core.attribution, viewer.core.checkpoint, viewer.core.graph, "
            "viewer.nets, viewer.core.rules, viewer.core.geometry; "
            "print(sorted(m for m in ('pygame', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_tool_imports_nothing_from_the_training_lab():
    code = ("import sys, viewer.launch, viewer.app, viewer.worker, viewer.cli, viewer.export, viewer.panes, "
            "viewer.bench.core, viewer.bench.live; print(sorted(m for m in sys.modules if m.startswith('viewer.training')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
