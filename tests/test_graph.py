"""Layer graph and receptive fields against the paper's numbers and hand-computed geometry."""
import torch
from torch import nn

from viewer.core.graph import LayerKind, build_graph
from viewer.nets import AllCNNC, build_model


def test_allcnn_c_parameter_count_matches_paper():
    # docs/definitions.md section 6 / paper Table 2: 1,369,738 parameters without BatchNorm
    assert sum(p.numel() for p in AllCNNC(bn=False).parameters()) == 1_369_738


def test_allcnn_c_layers_shapes_and_receptive_fields():
    layers = build_graph(AllCNNC())
    assert [l.name for l in layers] == [f"conv{i}" for i in range(1, 10)] + ["pool"]
    shapes = [l.shape for l in layers]
    assert shapes == [(96, 32, 32), (96, 32, 32), (96, 16, 16), (192, 16, 16), (192, 16, 16), (192, 8, 8),
                      (192, 6, 6), (192, 6, 6), (10, 6, 6), (10, 1, 1)]
    assert all(l.kind is LayerKind.CONV for l in layers[:9])
    # r_l = r_{l-1} + (k - 1) j_{l-1}, j_l = j_{l-1} s: 3, 5, 7 (j=2), 11, 15, 19 (j=4), 27, 27, 27
    sizes = [l.rf.size[0] for l in layers[:9]]
    assert sizes == [3, 5, 7, 11, 15, 19, 27, 27, 27]
    assert [l.rf.stride[0] for l in layers[:9]] == [1, 1, 2, 2, 2, 4, 4, 4, 4]
    # conv7 has no padding: its unit 0 is centred on conv6 unit 1, i.e. input pixel 4
    assert layers[6].rf.centre(0, 0) == (4.0, 4.0)
    assert layers[9].rf is None  # global average: not a convolutional chain any more


def test_dropout_off_in_eval_and_on_in_train():
    m = AllCNNC().eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(m(x), m(x))
    m.train()
    torch.manual_seed(0)
    a = m(x)
    assert not torch.equal(a, m(x))


def test_reused_module_gives_one_layer_per_call():
    relu = nn.ReLU()
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.relu = relu
        def forward(self, x):
            return self.relu(self.conv(self.relu(x)))
    layers = build_graph(Twice(), (3, 8, 8))
    assert [l.name for l in layers] == ["relu", "conv", "relu#2"]
    assert layers[2].rf.size == (3, 3) and layers[2].rf.stride == (2, 2)
    assert layers[1].params == 3 * 4 * 9 + 4


def test_maxpool_and_dilation_geometry():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2, padding=2), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))
    layers = build_graph(net, (3, 16, 16))
    # dilated 3x3 covers 5; max pool 2 stride 2: 5 + 1 = 6, j = 2; conv 3: 6 + 2*2 = 10
    assert [l.rf.size[0] for l in layers] == [5, 6, 10]
    # pool unit 0 spans conv outputs 0..1 -> centre 0.5; conv (no padding) unit 0 centre: 0.5 + 1*2 = 2.5
    assert layers[2].rf.centre(0, 0) == (2.5, 2.5)


def test_receptive_field_box_is_clipped():
    conv6 = build_graph(AllCNNC())[5]
    assert conv6.rf.box(0, 0, 32, 32) == (0, 0, 10, 10)   # centre 0, +-9, clipped at the top-left
    assert conv6.rf.box(7, 7, 32, 32) == (19, 19, 32, 32)  # centre 28


def test_registry_unknown_name():
    import pytest
    with pytest.raises(ValueError, match="unknown architecture 'vgg'"):
        build_model("vgg")


def test_the_probe_finds_each_layer_s_inputs_and_the_strip_draws_skip_arcs():
    from nets import make_tiny_resnet

    from viewer.render.layout import compute_layout
    from viewer.render.strip_geometry import skip_arcs
    assert [l.inputs for l in build_graph(AllCNNC())][1:4] == [("conv1",), ("conv2",), ("conv3",)]
    layers = build_graph(make_tiny_resnet(), (3, 16, 16), leaves=True)
    by = {l.name: l.inputs for l in layers}
    assert by["layer1.0.relu#2"] == ("stem.2", "layer1.0.bn2")            # the residual add joins these
    assert by["layer1.1.relu#2"] == ("layer1.0.relu#2", "layer1.1.bn2")
    names = [l.name for l in layers]
    L = compute_layout((1280, 800), [l.shape for l in layers])
    arcs = skip_arcs([l.inputs for l in layers], names, L.blocks, L.label_bottoms)
    assert len(arcs) == 2
    a = L.blocks[names.index("stem.2")]
    assert arcs[0][0] == (a[0] + a[2] // 2, a[1]) and arcs[0][1][1] < a[1]   # up from the source block
    assert skip_arcs([l.inputs for l in build_graph(AllCNNC())], [f"conv{i}" for i in range(1, 10)] + ["pool"],
                     compute_layout((1280, 800), [l.shape for l in build_graph(AllCNNC())]).blocks) == []


def test_a_skip_across_the_rows_of_a_wrapped_strip_is_drawn_in_two_pieces():
    from viewer.render.strip_geometry import skip_arcs, stage_starts
    # six blocks in two rows of three; layer 4 (row 2) reads layer 1 (row 1) and layer 3 (just before it)
    blocks = tuple((10 + 50 * (i % 3), 20 + 60 * (i // 3), 30, 10) for i in range(6))
    bottoms = tuple(60 + 60 * (i // 3) for i in range(6))
    names = ["a", "b", "c", "d", "e", "f"]
    inputs = [(), ("a",), ("b",), ("c",), ("d", "b"), ("e",)]
    arcs = skip_arcs(inputs, names, blocks, bottoms)
    assert len(arcs) == 2
    first, second = arcs
    assert first[0] == (75, 20) and first[-2][0] == 10 + 50 * 2 + 30 + 4       # up from b, to row 1's right end
    assert second[0][0] == 10 - 4 and second[-1] == (75, 80)          # from row 2's left end down to e
    same_row = skip_arcs([(), (), ("a",)], names[:3], blocks[:3], bottoms[:3])   # c reads a: one piece
    assert len(same_row) == 1 and same_row[0][0] == (25, 20) and same_row[0][-1] == (125, 20)
    assert stage_starts(["conv1", "bn1", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "fc"]) == \
        [(2, "layer1"), (4, "layer2")]
    assert stage_starts(["0", "1", "2"]) == [] and stage_starts(["features.0", "features.1", "fc"]) == \
        [(0, "features")]
