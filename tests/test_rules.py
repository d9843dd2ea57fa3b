"""The ReLU rules on the 3x3 example of docs/definitions.md section 1 and on a tiny net worked out by hand."""
import torch
from torch import nn

from viewer.core.attribution import Analyzer, UnitTarget
from viewer.core.graph import build_graph
from viewer.core.rules import Method, relu_backward

F_IN = torch.tensor([[1., -1, 5], [2, -5, -7], [-3, 2, 4]])
R_IN = torch.tensor([[-2., 3, -1], [6, -3, 1], [2, -1, 3]])


def test_design_example_gradient():
    assert relu_backward(F_IN, R_IN, Method.GRADIENT).tolist() == [[-2, 0, -1], [6, 0, 0], [0, -1, 3]]


def test_design_example_deconvnet():
    assert relu_backward(F_IN, R_IN, Method.DECONVNET).tolist() == [[0, 3, 0], [6, 0, 1], [2, 0, 3]]


def test_design_example_guided():
    assert relu_backward(F_IN, R_IN, Method.GUIDED).tolist() == [[0, 0, 0], [6, 0, 0], [0, 0, 3]]


def test_strict_masks_at_zero():
    f = torch.tensor([0., 1.])
    r = torch.tensor([1., 0.])
    assert relu_backward(f, r, Method.GRADIENT).tolist() == [0, 0]   # f = 0 is not > 0
    assert relu_backward(f, r, Method.GUIDED).tolist() == [0, 0]
    assert relu_backward(f, r, Method.DECONVNET).tolist() == [1, 0]  # only R matters; R = 0 is not > 0


def hand_net():
    """x (1 channel, 1x3) -> conv 1x1 to 2 channels, weights [1, -1] -> ReLU -> conv 1x3 to 1 channel,
    weights v0 = [1, 1, -1] (channel 0), v1 = [-1, 2, 1] (channel 1) -> ReLU."""
    a = nn.Conv2d(1, 2, 1, bias=False)
    b = nn.Conv2d(2, 1, (1, 3), bias=False)
    with torch.no_grad():
        a.weight.copy_(torch.tensor([1., -1]).view(2, 1, 1, 1))
        b.weight.copy_(torch.tensor([[1., 1, -1], [-1, 2, 1]]).view(1, 2, 1, 3))
    return nn.Sequential(a, nn.ReLU(), b, nn.ReLU()).eval()


# x = [1, -2, 3].  Layer A: a0 = x = [1, -2, 3], a1 = -x = [-1, 2, -3]; after ReLU h0 = [1, 0, 3],
# h1 = [0, 2, 0].  Output z = v0.h0 + v1.h1 = (1 + 0 - 3) + (0 + 4 + 0) = 2 > 0, so the top ReLU passes
# the seed 1 under every rule.  Signal arriving at the lower ReLU: R0 = v0 = [1, 1, -1], R1 = v1 = [-1, 2, 1].
#   gradient  (keep f > 0):       R0' = [1, 0, -1]  (a0 > 0 at 0, 2)   R1' = [0, 2, 0]  (a1 > 0 at 1)
#   deconvnet (keep R > 0):       R0' = [1, 1, 0]                       R1' = [0, 2, 1]
#   guided    (keep f > 0, R > 0): R0' = [1, 0, 0]                      R1' = [0, 2, 0]
# Through the 1x1 conv with weights [1, -1]: input signal = R0' - R1':
#   gradient [1, -2, -1], deconvnet [1, -1, -1], guided [1, -2, 0].
EXPECTED = {Method.GRADIENT: [1., -2, -1], Method.DECONVNET: [1., -1, -1], Method.GUIDED: [1., -2, 0]}


def test_hand_net_all_methods():
    net = hand_net()
    layers = build_graph(net, (1, 1, 3))
    assert [l.name for l in layers] == ["0", "1", "2", "3"]
    an = Analyzer(net, layers)
    fp = an.forward(torch.tensor([1., -2, 3]).view(1, 1, 1, 3))
    assert fp.activation("3").item() == 2.0
    for method, expected in EXPECTED.items():
        res = an.attribute(fp, [UnitTarget("3", 0, 0, 0)], method)
        assert res.images[0].flatten().tolist() == expected, method


def test_a_method_without_a_rule_is_refused_not_taken_for_guided_backprop():
    import pytest

    from viewer.core.rules import apply_rule
    f = torch.tensor([1.0, -1.0])
    for fn in (lambda m: apply_rule(f > 0, f.clone(), m), lambda m: apply_rule(f > 0, f.clone(), m, inplace=True)):
        with pytest.raises(ValueError, match="no ReLU rule"):
            fn("integrated gradients")


def test_the_rule_table_is_data_that_every_rule_is_read_from():
    """DESIGN section 3's table as each Method's two switches, and apply_rule (out of place and in place)
    equal to the formula built from them, R' = 1[f > 0]^uses_mask * 1[R > 0]^clamps * R, on random values
    with many exact zeros (strict '>'); the autograd rule (RuleReLU) reads the same data."""
    from viewer.core.rules import RuleReLU, RuleState, apply_rule
    table = {m.value: (m.uses_mask, m.clamps) for m in Method}
    assert table == {"gradient": (True, False), "deconvnet": (False, True), "guided": (True, True)}
    assert [m.label for m in Method] == ["guided backprop", "deconvnet", "gradient"]
    assert all(Method(m.value) is m for m in Method)                 # the names saved files use
    g = torch.Generator().manual_seed(0)
    f = torch.randint(-2, 3, (4, 5, 6), generator=g).float()
    r = torch.randint(-2, 3, (4, 5, 6), generator=g).float()
    for m in Method:
        by_hand = r * ((f > 0).float() if m.uses_mask else 1.0) * ((r > 0).float() if m.clamps else 1.0)
        assert torch.equal(apply_rule(f > 0, r, m), by_hand), m
        into = r.clone()
        assert apply_rule(f > 0, into, m, inplace=True) is into and torch.equal(into, by_hand), m
        x = f.clone().requires_grad_(True)
        (got,) = torch.autograd.grad(RuleReLU.apply(x, RuleState(m)), x, r)
        assert torch.equal(got, by_hand), m
        assert m.changes_gradient == (m.clamps or not m.uses_mask)
