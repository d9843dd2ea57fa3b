"""The teacher architectures against published and hand-counted sizes, and the viewer's view of them."""
import pytest
import torch
from lab_helpers import ARGS, write_batches_folder

from viewer.core.checkpoint import load_checkpoint
from viewer.core.graph import build_graph
from viewer.nets import build_model
from viewer.training import train


def test_resnet18_has_the_published_parameter_count():
    # the common CIFAR ResNet-18 (kuangliu/pytorch-cifar, used in many papers): 11,173,962 parameters
    assert sum(p.numel() for p in build_model("resnet18").parameters()) == 11_173_962


def test_resnet9_parameter_count_by_hand():
    def conv_bn(cin, cout):                        # bias-free 3x3 conv and a BatchNorm's weight and bias
        return cin * cout * 9 + 2 * cout
    want = (conv_bn(3, 64) + conv_bn(64, 128) + 2 * conv_bn(128, 128) + conv_bn(128, 256)
            + conv_bn(256, 512) + 2 * conv_bn(512, 512) + 512 * 10)
    assert want == 6_573_120  # Page 2018 quotes 6.5M
    assert sum(p.numel() for p in build_model("resnet9").parameters()) == want


@pytest.mark.parametrize("arch", ["resnet9", "resnet18"])
def test_teacher_nets_open_in_the_viewer(arch):
    model = build_model(arch).eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    layers = build_graph(model)
    assert len(layers) >= 8 and layers[0].shape == (64, 32, 32)
    assert (512, 4, 4) in [l.shape for l in layers]  # both end on 512 channels at 4x4 before the pool


def test_a_resnet9_teacher_trains_and_loads_as_a_checkpoint(tmp_path):
    data = write_batches_folder(tmp_path / "cifar-10-batches-py")
    out = tmp_path / "r9.pt"
    assert train.main(["--data", str(data), "--out", str(out), *ARGS, "--arch", "resnet9"]) == 0
    loaded = load_checkpoint(out)
    assert type(loaded.model).__name__ == "ResNet9"
    assert torch.load(out, weights_only=True)["meta"]["train_config"]["arch"] == "resnet9"
