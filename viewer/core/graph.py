"""The layer graph: a model's inspectable layers in execution order, found by one probe forward pass.

Which modules are layers: walk down from the root through containers (Sequential, ModuleList, ModuleDict)
and the root itself; every other module is a layer and is not opened further (so a custom block such as
All-CNN-C's conv -> BN -> ReLU or a ResNet BasicBlock is one layer). Dropout and Identity are skipped. A
module called several times in one forward gives one layer per call ("relu", "relu#2", ...). With
`leaves=True` every leaf module is a layer instead.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .geometry import GeometryTracker, ReceptiveField

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
SKIPPED = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)


class LayerKind(enum.Enum):
    CONV = "conv"
    LINEAR = "linear"
    NORM = "norm"
    ACTIVATION = "activation"
    POOL = "pool"
    BLOCK = "block"
    OTHER = "other"


def kind_of(module: nn.Module) -> LayerKind:
    if isinstance(module, nn.modules.conv._ConvNd):
        return LayerKind.CONV
    if isinstance(module, nn.Linear):
        return LayerKind.LINEAR
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
        return LayerKind.NORM
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
                           nn.Hardswish, nn.PReLU, nn.Softmax)):
        return LayerKind.ACTIVATION
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                           nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        return LayerKind.POOL
    leaves = [kind_of(m) for m in module.modules() if m is not module and not list(m.children())]
    leaves = [k for k in leaves if k is not LayerKind.OTHER]
    if leaves and leaves.count(LayerKind.CONV) == 1 and set(leaves) <= {LayerKind.CONV, LayerKind.NORM,
                                                                          LayerKind.ACTIVATION}:
        return LayerKind.CONV  # conv -> norm -> activation block
    return LayerKind.BLOCK if leaves else LayerKind.OTHER


@dataclass(frozen=True)
class LayerInfo:
    name: str                        # module path, "#k" appended for the k-th call of a reused module
    module_name: str
    call: int                        # 0 for the first call of the module in a forward pass
    kind: LayerKind
    type_name: str
    shape: tuple[int, ...]           # output shape without the batch dimension: (C, H, W) or (C,)
    params: int
    rf: ReceptiveField | None        # None where the chain from the input is not convolutional
    inputs: tuple[str, ...] = ()     # the layers whose outputs this layer's output was computed from

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def spatial(self) -> tuple[int, int]:
        return (self.shape[1], self.shape[2]) if len(self.shape) == 3 else (1, 1)


def candidate_modules(model: nn.Module, leaves: bool = False) -> list[tuple[str, nn.Module]]:
    if leaves:
        return [(n, m) for n, m in model.named_modules() if n and not list(m.children())
                and not isinstance(m, SKIPPED)]
    out: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(child, SKIPPED):
                continue
            if isinstance(child, CONTAINERS):
                walk(path, child)
            else:
                out.append((path, child))
    walk("", model)
    if not out and not isinstance(model, SKIPPED):
        out.append(("", model))
    return out


def layer_name(module_name: str, call: int) -> str:
    name = module_name or "output"  # the root itself, when it has no sub-modules to show
    return name if call == 0 else f"{name}#{call + 1}"


class CallCounter:
    """Forward hooks that number the calls of each module; `on_output(name, call, output)` per call."""

    def __init__(self, modules: list[tuple[str, nn.Module]], on_output):
        self.modules, self.on_output, self.calls, self.handles = modules, on_output, {}, []

    def __enter__(self):
        try:
            for name, module in self.modules:
                self.handles.append(module.register_forward_hook(self._hook(name)))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _hook(self, name: str):
        def hook(module, inputs, output):
            call = self.calls.get(name, 0)
            self.calls[name] = call + 1
            return self.on_output(name, call, output)
        return hook

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def _count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class SourceTracker(TorchFunctionMode):
    """While active, records for every tensor produced the set of layers it was computed from (by id): the
    union of its inputs' sets. CallCounter's record marks a layer's output as coming from that layer alone."""

    def __init__(self):
        super().__init__()
        self.sources: dict[int, frozenset] = {}
        self._alive: list = []

    def of(self, t) -> frozenset:
        return self.sources.get(id(t), frozenset()) if isinstance(t, torch.Tensor) else frozenset()

    def mark(self, t, layer: str) -> None:
        self.sources[id(t)] = frozenset((layer,))
        self._alive.append(t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        flat = [a for a in args if isinstance(a, torch.Tensor)]
        flat += [t for a in args if isinstance(a, (list, tuple)) for t in a if isinstance(t, torch.Tensor)]
        srcs = frozenset().union(*(self.of(t) for t in flat)) if flat else frozenset()
        if srcs:
            for o in (out if isinstance(out, (tuple, list)) else (out,)):
                if isinstance(o, torch.Tensor):
                    self.sources[id(o)] = self.sources.get(id(o), frozenset()) | srcs
                    self._alive.append(o)
        return out


def build_graph(model: nn.Module, input_shape: tuple[int, int, int] = (3, 32, 32),
                leaves: bool = False) -> list[LayerInfo]:
    """Run one probe forward pass (eval mode, no grad; the model's flags are restored) and list the layers."""
    modules = candidate_modules(model, leaves)
    by_name = dict(modules)
    found: list[tuple[str, int, torch.Tensor, frozenset]] = []
    sources = SourceTracker()

    def record(name, call, output):
        if isinstance(output, torch.Tensor) and output.dim() in (2, 4):
            found.append((name, call, output, sources.of(output)))
            sources.mark(output, layer_name(name, call))
    x = torch.zeros((1, *input_shape))
    flags = [(m, m.training) for m in model.modules()]
    tracker = GeometryTracker(x)
    try:
        model.eval()
        with torch.no_grad(), CallCounter(modules, record), tracker, sources:
            model(x)
    finally:
        for m, t in flags:
            m.training = t
    layers = []
    names = [layer_name(n, c) for n, c, _, _ in found]
    for (name, call, out, srcs), lname in zip(found, names):
        module = by_name[name]
        order = [n for n in names if n in srcs and n != lname]
        layers.append(LayerInfo(lname, name, call, kind_of(module), type(module).__name__,
                                tuple(out.shape[1:]), _count_params(module) if call == 0 else 0,
                                tracker.lookup(out) if out.dim() == 4 else None, tuple(order)))
    return layers


def default_layer(layers: list[LayerInfo]) -> int:
    """The layer selected at start: conv6 (All-CNN-C's deepest layer with a spatial map of parts), else the
    middle one."""
    return next((i for i, l in enumerate(layers) if l.name == "conv6"), max(0, len(layers) // 2))
