"""The inference thread: takes an immutable Request, runs the model and the attribution, publishes an
immutable Result of CPU numpy arrays. A newer request replaces a pending one (latest wins). The thread
never touches pygame. run_sync() computes a result on the caller's thread (the sync app loop, tests); export calls
Pipeline.compute directly."""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .core import methods
from .core.attribution import (
    LOGITS,
    Analyzer,
    AttributionError,
    ChannelTarget,
    ClassTarget,
    Target,
    UnitTarget,
)
from .core.device import model_device
from .core.finite import describe, nonfinite_layers
from .core.graph import LayerInfo
from .core.memory import keep_freed_memory
from .core.methods import GUIDED, AttributionMethod, as_method
from .core.preprocess import InputSpec, crop_box, model_view, to_tensor
from .core.rules import Method
from .filters import first_weight


@dataclass(frozen=True)
class Request:
    frame: np.ndarray                  # RGB uint8 (H, W, 3), never written to
    frame_index: int
    layer: str
    target: Target | None              # None: feature maps and predictions only
    method: AttributionMethod | Method = GUIDED   # a registered method (core/methods.py), or a bare ReLU rule
    gradcam: bool = False
    seq: int = 0
    layer_units: tuple[int, int] | None = None   # (first, count): reconstruct these channels of the layer too
    weights: bool = False              # the filters view: hand back the layer's weights
    model: int = 0                     # which model of a PairPipeline computes it (--compare)
    frame_no: int = 0                  # the window's count of frames taken (the live atlas numbers frames by it)
    ablate: tuple[tuple[str, int], ...] = ()   # Z: (layer, channel)s whose output is set to 0 in this pass
    randomize: str | None = None       # X: also reconstruct the target in a copy randomized from the top down to
                                       # this layer (core/sanity.py), and compare the two
    other: Request | None = None       # --compare: the same frame for the other model, computed right after
    t_submit: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Result:
    request: Request
    model_image: np.ndarray            # (h, w, 3) uint8: the exact image the model saw
    crop: tuple[int, int, int, int]    # (top, left, h, w) of the frame it was cut from
    activation: np.ndarray             # selected layer: (C, H, W) or (C, 1, 1)
    probs: np.ndarray                  # (classes,) softmax of the logits
    unit: UnitTarget | None = None     # the resolved unit (a class target: layer "logits")
    value: float = 0.0                 # the unit's activation (or logit)
    inactive: bool = False
    recon: np.ndarray | None = None    # (3, h, w) signed reconstruction by request.method
    class_maps: dict | None = None     # request.gradcam: every CLASS_MAPS image by name, for class cam_class
    cam_class: int = -1
    layer_recons: np.ndarray | None = None   # (count, 3, h, w): each channel's strongest unit, by request.method
    layer_inactive: np.ndarray | None = None  # (count,) bool
    layer_positions: np.ndarray | None = None  # (count, 2) int: each channel's strongest (y, x)
    weights: np.ndarray | None = None  # with request.weights: the layer's first conv / linear weight
    error: str = ""                    # the attribution could not be computed (the rest of the result holds)
    failed: bool = False               # the model call itself failed: error says why, the arrays are empty
    compute_ms: float = 0.0
    stages: tuple[tuple[str, float], ...] = ()   # (stage, ms) of compute: where the time of this result went
    other: Result | None = None        # request.other's result (the compared model, on the same frame)
    random_recon: np.ndarray | None = None   # request.randomize: the same target in the randomized copy
    random_layers: tuple[str, ...] = ()      # the layers that copy re-initialised
    similarity: tuple[float, float, float] | None = None   # Spearman |maps|, Spearman signed, SSIM
    class_spearman: float | None = None      # class target: Spearman of |top class| and |second class| maps
    intact_probs: np.ndarray | None = None   # request.ablate: the intact model's probabilities (probs: ablated)
    nonfinite: str = ""                # where the pass held NaN or inf ("NaN in layer conv3 ..."), else ""
    t_done: float = field(default_factory=time.perf_counter)

    @property
    def cam(self) -> np.ndarray | None:
        """Grad-CAM's (h, w) map in [0, 1], where G asked for it."""
        return (self.class_maps or {}).get("Grad-CAM")

    @property
    def guided_cam(self) -> np.ndarray | None:
        return (self.class_maps or {}).get("guided Grad-CAM")


class Pipeline:
    """Model + analyzer + input spec: computes a Result from a Request (on whatever thread calls it)."""

    def __init__(self, model: torch.nn.Module, layers: list[LayerInfo], spec: InputSpec, bf16: bool = False,
                 output: str | None = None):
        """bf16 (the --precision choice, viewer/core/precision.py): run the forward pass under bf16 autocast
        and the whole-layer view's cone in bf16 (faster where bf16 is native, slightly different from fp32).
        One unit's reconstruction always runs its cone in fp32: it is cheap. Creating a pipeline also keeps
        freed memory in the process (core/memory.py): a result then costs no fresh pages."""
        keep_freed_memory()
        self.device = model_device(model)   # the model's (--device moved it there, core/device.py): inputs follow
        self.model, self.layers, self.spec, self.bf16 = model, {l.name: l for l in layers}, spec, bf16
        self._weights: dict[str, np.ndarray | None] = {}
        self._random: dict[str, tuple[Analyzer, tuple[str, ...]]] = {}   # cut -> the randomized copy's analyzer
        self._ablating: Analyzer | None = None   # Z: traced on every pass (a replay would skip the hooks)
        self.output = output   # --output: which part of the model's return value is the logits
        self.analyzer = Analyzer(model, layers, bf16_forward=bf16, output=output)
        self.bulk = Analyzer(model, layers, bf16=bf16, bf16_forward=bf16, output=output)

    def layer_weights(self, layer: str) -> np.ndarray | None:
        """The first conv / linear weight of the layer's module, as numpy (a copy, cached per layer)."""
        if layer not in self._weights:
            info = self.layers.get(layer)
            module = dict(self.model.named_modules()).get(info.module_name) if info else None
            self._weights[layer] = first_weight(module)
        return self._weights[layer]

    def randomized(self, cut: str) -> tuple[Analyzer, tuple[str, ...]]:
        """The analyzer of the model's copy randomized from the top down to `cut` (made once per cut)."""
        if cut not in self._random:
            from .core.sanity import cascading_randomized, randomized_from
            layers = list(self.layers.values())
            twin = cascading_randomized(self.model, layers, cut)
            self._random[cut] = (Analyzer(twin, layers, bf16_forward=self.bf16, output=self.output),
                                 tuple(l.name for l in randomized_from(layers, cut)))
        return self._random[cut]

    def sanity(self, req: Request, x, fp, method, unit, recon: np.ndarray, analyzer: Analyzer) -> dict:
        """X and the class target's check: the same target in the randomized copy, and the second class."""
        from .core.sanity import spearman, ssim
        out: dict = {}
        if req.randomize is not None:
            an, names = self.randomized(req.randomize)
            target = ClassTarget(unit.channel) if unit.layer == LOGITS else unit
            twin = method.reconstruct(an, an.forward(x), [target]).images[0].numpy()
            out.update(random_recon=twin, random_layers=names,
                       similarity=(spearman(np.abs(recon), np.abs(twin)), spearman(recon, twin), ssim(recon, twin)))
        if unit.layer == LOGITS and fp.logits.shape[1] > 1:
            second = int(fp.logits.detach()[0].argsort(descending=True)[1])
            other = method.reconstruct(analyzer, fp, [ClassTarget(second)]).images[0].numpy()
            out["class_spearman"] = spearman(np.abs(recon), np.abs(other))
        return out

    def ablation(self, ablate: tuple[tuple[str, int], ...]) -> list:
        """Forward hooks that set the given channels of their layers' outputs to 0 (the caller removes them)."""
        by_layer: dict[str, list[int]] = {}
        for layer, c in ablate:
            if layer in self.layers:
                by_layer.setdefault(layer, []).append(c)
        modules = dict(self.model.named_modules())
        handles = []
        for layer, channels in by_layer.items():
            info = self.layers[layer]
            calls = [0]

            def hook(module, inputs, output, info=info, channels=tuple(channels), calls=calls):
                k, calls[0] = calls[0], calls[0] + 1
                if k != info.call or not isinstance(output, torch.Tensor) or output.dim() < 2:
                    return None
                mask = torch.ones(output.shape[1], dtype=output.dtype, device=output.device)
                mask[[c for c in channels if c < output.shape[1]]] = 0
                return output * mask.view(1, -1, *([1] * (output.dim() - 2)))
            handles.append(modules[info.module_name].register_forward_hook(hook))
        return handles

    def _zeroable(self, layer: str) -> list | None:
        """The parameters whose channel c, set to 0, makes the layer's output channel c exactly 0: where the
        layer's module is called once and ends in a per-channel affine step and a ReLU (a conv with a bias, or
        a BatchNorm, then ReLU: ReLU(0 * x + 0) = 0), as every block of the paper's networks does."""
        info = self.layers[layer]
        if info.call != 0 or any(l.module_name == info.module_name and l.call for l in self.layers.values()):
            return None
        module = dict(self.model.named_modules()).get(info.module_name)
        kids = [k for k in module.children() if not isinstance(k, torch.nn.Identity)] if module is not None else []
        if len(kids) < 2 or not isinstance(kids[-1], torch.nn.ReLU):
            return None
        prev = kids[-2]
        if isinstance(prev, torch.nn.modules.batchnorm._BatchNorm) and prev.affine:
            return [prev.weight, prev.bias]
        if isinstance(prev, torch.nn.Conv2d) and prev.bias is not None:
            return [prev.weight, prev.bias]
        return None

    def compute(self, req: Request) -> Result:
        if not req.ablate:
            return self._compute(req)
        if req.randomize is not None:        # made from the intact weights, before anything is zeroed
            self.randomized(req.randomize)
        if req.weights:
            self.layer_weights(req.layer)
        # the intact model's predictions first, then the ablated pass: channels of blocks that end in an
        # affine step and a ReLU by zeroing that step's parameters in place for the pass (the replayed,
        # fast forward then sees it); any other layer by forward hooks, on a pass traced every time
        intact = self.analyzer.forward(to_tensor(model_view(req.frame, self.spec), self.spec, self.device)).logits
        zeroable = {l: self._zeroable(l) for l in {l for l, _ in req.ablate if l in self.layers}}
        by_params = tuple((l, c) for l, c in req.ablate if zeroable.get(l) is not None)
        by_hooks = tuple(a for a in req.ablate if a not in by_params)
        saved = []
        handles = self.ablation(by_hooks) if by_hooks else []
        try:
            with torch.no_grad():
                for layer, c in by_params:
                    for p in zeroable[layer]:
                        if c < p.shape[0]:
                            saved.append((p, c, p[c].clone()))
                            p[c] = 0
            if by_hooks and self._ablating is None:
                self._ablating = Analyzer(self.model, list(self.layers.values()), replay=False, output=self.output)
            res = self._compute(req, self._ablating if by_hooks else None)
        finally:
            with torch.no_grad():
                for p, c, v in reversed(saved):
                    p[c] = v
            for h in handles:
                h.remove()
        return dataclasses.replace(res, intact_probs=intact.detach()[0].float().softmax(0).cpu().numpy())

    def _compute(self, req: Request, analyzer: Analyzer | None = None) -> Result:
        analyzer = analyzer or self.analyzer
        bulk = self.bulk if analyzer is self.analyzer else analyzer
        t0 = time.perf_counter()
        stages: list[tuple[str, float]] = []
        lap = [t0]

        def done(stage: str) -> None:
            now = time.perf_counter()
            stages.append((stage, (now - lap[0]) * 1000))
            lap[0] = now
        view = model_view(req.frame, self.spec)
        x = to_tensor(view, self.spec, self.device)
        done("preprocess")
        fp = analyzer.forward(x)
        done("forward")
        extra: dict = {"nonfinite": describe(nonfinite_layers(fp.outputs, fp.logits))}
        if req.weights:
            extra["weights"] = self.layer_weights(req.layer)
        method = as_method(req.method)
        try:
            if req.target is not None:
                res = method.reconstruct(analyzer, fp, [req.target])
                extra.update(unit=res.units[0], value=res.values[0], inactive=res.inactive(0),
                             recon=res.images[0].numpy())
                done("unit")
                if req.randomize is not None or res.units[0].layer == LOGITS:
                    extra.update(self.sanity(req, x, fp, method, res.units[0], extra["recon"], analyzer))
                    done("sanity")
            if req.layer_units is not None:
                first, count = req.layer_units
                res = method.reconstruct(bulk, fp, [ChannelTarget(req.layer, c) for c in range(first, first + count)])
                extra.update(layer_recons=res.images.numpy(),
                             layer_inactive=np.array([res.inactive(k) for k in range(count)]),
                             layer_positions=np.array([(u.y, u.x) for u in res.units], np.int64).reshape(-1, 2))
                done("whole layer")
        except AttributionError as e:
            extra["error"] = str(e)
        if req.gradcam:   # on its own: Grad-CAM needs no ReLU where the unit's method failed for the lack of one
            try:
                top = int(fp.logits.detach()[0].argmax())
                maps: dict = {}
                for m in methods.CLASS_MAPS:       # read now: one registered later is in it
                    maps.update(m.maps(analyzer, fp, top, req.layer))
                extra.update(class_maps=maps, cam_class=top)
                done("grad-cam")
            except AttributionError as e:
                extra["error"] = extra.get("error") or str(e)
        act = fp.activation(req.layer)
        act = act if act.dim() == 3 else act.view(-1, 1, 1)
        probs = fp.logits.detach()[0].float().softmax(0).cpu().numpy()   # to the CPU once per result
        act = act.numpy().copy() if act.device.type == "cpu" else act.cpu().numpy()
        if extra["nonfinite"]:   # drawn as 0 (the status bar says where): a NaN or inf would break every scale
            act, probs = _finite(act), _finite(probs)
            extra.update({k: _finite(extra[k]) for k in ("recon", "layer_recons") if extra.get(k) is not None})
        done("to numpy")
        return Result(req, view, crop_box(req.frame.shape, self.spec), act, probs,
                      compute_ms=(time.perf_counter() - t0) * 1000, stages=tuple(stages), **extra)


def _finite(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)


def failed_result(req: Request, e: Exception) -> Result:
    """The Result of a request whose model call raised: error says why, the arrays are empty."""
    return Result(req, np.zeros((0, 0, 3), np.uint8), (0, 0, 0, 0), np.zeros((0, 0, 0), np.float32),
                  np.zeros(0, np.float32), error=f"{type(e).__name__}: {e}", failed=True)


class PairPipeline:
    """Two models on the same frames (--compare): a request is computed by pipes[request.model], and its
    `other` request, if any, by the other pipeline right after it on the same thread (both results come
    back together, so they always belong to the same frame; a result/s of the pair is two model passes)."""

    def __init__(self, first: Pipeline, second: Pipeline):
        self.pipes = (first, second)

    @property
    def model(self):   # the first model (what a single-model caller of .pipeline.model expects)
        return self.pipes[0].model

    def compute(self, req: Request) -> Result:
        main = self.pipes[req.model].compute(req)
        if req.other is None:
            return main
        try:
            other = self.pipes[req.other.model].compute(req.other)
        except Exception as e:
            other = failed_result(req.other, e)
        return dataclasses.replace(main, other=other)


class Worker:
    """One inference thread with a one-slot mailbox; submit() never blocks; latest() never blocks."""

    def __init__(self, pipeline: Pipeline | PairPipeline):
        self.pipeline = pipeline
        self._cv = threading.Condition()
        self._pending: Request | None = None
        self._result: Result | None = None
        self._stop = False
        self.busy = False
        self.completed = 0
        self._thread = threading.Thread(target=self._loop, name="inference", daemon=True)
        self._thread.start()

    def submit(self, req: Request) -> None:
        with self._cv:
            self._pending = req  # replaces any request not yet started: latest wins
            self._cv.notify()

    def latest(self) -> Result | None:
        with self._cv:
            return self._result

    def idle(self) -> bool:
        with self._cv:
            return self._pending is None and not self.busy

    def run_sync(self, req: Request) -> Result:
        res = self._compute(req)
        with self._cv:
            self._result = res
        return res

    def wait_idle(self, timeout: float = 10.0) -> bool:
        t0 = time.perf_counter()
        while not self.idle():
            if time.perf_counter() - t0 > timeout:
                return False
            time.sleep(0.002)
        return True

    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                req, self._pending, self.busy = self._pending, None, True
            res = self._compute(req)
            with self._cv:
                self._result, self.busy = res, False
                self.completed += 1

    def _compute(self, req: Request) -> Result:
        """pipeline.compute, with a failure of the model call reported as a failed Result (on this thread or
        the caller's alike): a bad frame or a model error must not kill the thread or the app."""
        try:
            return self.pipeline.compute(req)
        except Exception as e:
            return failed_result(req, e)

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Stop the thread and join it; True when it has ended within the timeout."""
        with self._cv:
            self._stop = True
            self._pending = None
            self._cv.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()
