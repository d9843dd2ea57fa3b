"""Small models written several ways, shared by the tests."""
import torch
import torch.nn.functional as F
from torch import nn


def _convs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    def conv(cin, cout, stride=1):
        c = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        with torch.no_grad():
            c.weight.copy_(torch.randn(c.weight.shape, generator=g) * 0.4)
            c.bias.copy_(torch.randn(c.bias.shape, generator=g) * 0.1)
        return c
    return conv(3, 8), conv(8, 8, 2), conv(8, 6)


class PlainReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = _convs()
        self.r1, self.r2, self.r3 = nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x):
        return self.r3(self.c3(self.r2(self.c2(self.r1(self.c1(x)))))).mean((2, 3))


class InplaceReLU(PlainReLU):
    def __init__(self):
        super().__init__()
        self.r1, self.r2, self.r3 = nn.ReLU(inplace=True), nn.ReLU(inplace=True), nn.ReLU(inplace=True)


class SharedReLU(PlainReLU):
    def __init__(self):
        super().__init__()
        shared = nn.ReLU(inplace=True)
        self.r1 = self.r2 = self.r3 = shared


class FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = _convs()

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = torch.relu(self.c2(x))
        return self.c3(x).relu().mean((2, 3))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)  # reused twice, as in torchvision's BasicBlock

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.layer1 = nn.Sequential(ResBlock(8), ResBlock(8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(self.pool(self.layer1(self.stem(x))).flatten(1))


class NoReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.Tanh()
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.c2(self.act(self.c1(x))).mean((2, 3))


def make_tiny_resnet():
    torch.manual_seed(0)
    m = TinyResNet()
    for mod in m.modules():  # non-trivial BatchNorm statistics
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


class HeadsOutput(nn.Module):
    """A small CNN that returns (logits, auxiliary) or a dict or an object with .logits, like models with
    auxiliary heads and Hugging Face classifiers do."""

    def __init__(self, kind: str = "tuple"):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Conv2d(8, 5, 1)
        self.aux = nn.Conv2d(8, 3, 1)

    def forward(self, x):
        h = self.relu(self.conv(x))
        logits, aux = self.head(h).mean((2, 3)), self.aux(h).mean((2, 3))
        if self.kind == "tuple":
            return logits, aux
        if self.kind == "dict":
            return {"aux": aux, "logits": logits}
        return type("Output", (), {"logits": logits, "aux": aux})()


def heads_tuple():
    torch.manual_seed(0)
    return HeadsOutput("tuple")


def grey_net():
    """A 1-channel (grayscale) classifier, like an MNIST model."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 6, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4))


def thousand_classes():
    """A tiny fully convolutional net with 1,000 outputs (for --preset imagenet)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(), nn.Conv2d(8, 1000, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


def nan_net():
    """A small CNN whose second convolution has one NaN weight (broken weights): channel 1 of layer "2"
    and everything after it are NaN; layer "0" is clean."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[2].weight[1, 0, 0, 0] = float("nan")
    return net


class SlowLater(nn.Module):
    """Fast for its first calls (the probes, the first frames), then every call runs seconds of matrix
    products in C++: a model step still running when the window closes. Its forward reads a value into Python,
    so no tape is recorded and every frame runs this code."""

    def __init__(self, fast_calls: int = 6):
        super().__init__()
        self.conv, self.relu, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Linear(4, 3)
        self.calls, self.fast_calls = 0, fast_calls

    def forward(self, x):
        self.calls += 1
        h = self.relu(self.conv(x))
        if float(h.sum()) > -1e30 and self.calls > self.fast_calls:
            a = torch.full((1200, 1200), 1e-4)
            for _ in range(60):
                a = a @ a
        return self.fc(h.mean((2, 3)))


def slow_later():
    torch.manual_seed(0)
    return SlowLater()


def silu_net():
    """A small CNN with SiLU activations and no ReLU (EfficientNet's kind): guided backprop has nothing to
    guide, Grad-CAM still works."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.SiLU(), nn.Conv2d(6, 8, 3, stride=2, padding=1),
                         nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
