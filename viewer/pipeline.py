"""One worker step: a Request in, a Result out, on whatever thread calls it (the inference thread, the sync
app loop, the export, the benchmarks). The step is one template:

    prepare (each part) -> [around (each part): preprocess -> forward -> the unit -> step (each part)] -> numpy

The core (feature maps, predictions, the selected unit's reconstruction) is computed here; everything else
is a feature's part (viewer/features), so a request goes down once and comes back once."""
from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Callable

import numpy as np
import torch

from .core.attribution import Analyzer, AttributionError
from .core.device import model_device
from .core.finite import describe, nonfinite_layers
from .core.graph import LayerInfo
from .core.lrp_method import pixel_bounds
from .core.memory import keep_freed_memory
from .core.methods import as_method
from .core.preprocess import InputSpec, crop_box, model_view, to_tensor
from .features import active
from .features.base import Job
from .requests import Request, Result, failed_result


class Pipeline:
    """Model + analyzer + input spec: computes a Result from a Request."""

    def __init__(self, model: torch.nn.Module, layers: list[LayerInfo], spec: InputSpec, bf16: bool = False,
                 output: str | None = None):
        """bf16 (the --precision choice, viewer/core/precision.py): run the forward pass under bf16 autocast
        and the whole-layer view's cone in bf16 (faster where bf16 is native, slightly different from fp32).
        One unit's reconstruction always runs its cone in fp32: it is cheap. Creating a pipeline also keeps
        freed memory in the process (core/memory.py): a result then costs no fresh pages."""
        keep_freed_memory()
        self.device = model_device(model)   # the model's (--device moved it there, core/device.py): inputs follow
        self.model, self.layers, self.spec, self.bf16 = model, {l.name: l for l in layers}, spec, bf16
        self.output = output   # --output: which part of the model's return value is the logits
        bounds = pixel_bounds(spec.mean, spec.std, spec.channels)   # LRP's zB rule
        self.analyzer = Analyzer(model, layers, bf16_forward=bf16, output=output, pixel_bounds=bounds)
        self.bulk = Analyzer(model, layers, bf16=bf16, bf16_forward=bf16, output=output, pixel_bounds=bounds)
        self.cache: dict[str, dict] = {}    # feature name -> what its steps keep across requests
        self.partner: Pipeline | None = None   # --compare: the other model's pipeline

    def kept(self, name: str) -> dict:
        """The feature's cache on this pipeline (its weights, its randomized copies...)."""
        return self.cache.setdefault(name, {})

    def input(self, frame: np.ndarray) -> torch.Tensor:
        return to_tensor(model_view(frame, self.spec), self.spec, self.device)

    def compute(self, req: Request, report: Callable[[Result], None] | None = None,
                superseded: Callable[[], bool] | None = None) -> Result:
        """report: handed an interim Result while a long part is under way (W on a large layer: the tiles done so
        far); superseded: True when a newer request asks for something else (a long part stops early)."""
        t0 = time.perf_counter()
        stages: list[tuple[str, float]] = []
        lap = [t0]

        def done(stage: str) -> None:
            now = time.perf_counter()
            stages.append((stage, (now - lap[0]) * 1000))
            lap[0] = now
        parts = [(f, req.parts[f.name]) for f in active() if req.parts.get(f.name) is not None]
        for f, p in parts:
            f.prepare(self, req, p)
        job = Job(req, self.analyzer, self.bulk, method=as_method(req.method), lap=done)
        with ExitStack() as stack:
            for f, p in parts:
                stack.enter_context(f.around(self, job, p))
            job.view = model_view(req.frame, self.spec)
            job.x = to_tensor(job.view, self.spec, self.device)
            done("preprocess")
            fp = job.fp = job.analyzer.forward(job.x)
            done("forward")
            job.nonfinite = describe(nonfinite_layers(fp.outputs, fp.logits))
            core: dict = {"nonfinite": job.nonfinite}
            if req.target is not None:
                try:
                    res = job.method.reconstruct(job.analyzer, fp, [req.target])
                    job.unit, job.recon = res.units[0], res.images[0].numpy()
                    core.update(unit=job.unit, value=res.values[0], inactive=res.inactive(0), recon=job.recon)
                except AttributionError as e:
                    core["error"] = str(e)
                done("unit")
            act = fp.activation(req.layer)
            act = act if act.dim() == 3 else act.view(-1, 1, 1)
            probs = fp.logits.detach()[0].float().softmax(0).cpu().numpy()   # to the CPU once per result
            act = act.numpy().copy() if act.device.type == "cpu" else act.cpu().numpy()
            if job.nonfinite:   # drawn as 0 (the status bar says where): a NaN or inf would break every scale
                act, probs = finite(act), finite(probs)
                if core.get("recon") is not None:
                    core["recon"] = finite(core["recon"])
            done("to numpy")
            out: dict = {}

            def result(parts_so_far: dict, interim: bool) -> Result:
                return Result(req, job.view, crop_box(req.frame.shape, self.spec), act, probs, parts=parts_so_far,
                              compute_ms=(time.perf_counter() - t0) * 1000, stages=tuple(stages), interim=interim,
                              **core)
            job.report = (lambda name, part: report(result({**out, name: part}, True))) if report else job.report
            job.superseded = superseded or job.superseded
            for f, p in parts:
                out[f.name] = f.step(self, job, p)
        return result(out, False)


def finite(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)


class PairPipeline:
    """Two models on the same frames (--compare): a request is computed by pipes[request.model]; the compare
    feature's part asks the other pipeline (Pipeline.partner) for the same frame within the same step, so
    both results come back together."""

    def __init__(self, first: Pipeline, second: Pipeline):
        self.pipes = (first, second)
        first.partner, second.partner = second, first

    @property
    def model(self):   # the first model (what a single-model caller of .pipeline.model expects)
        return self.pipes[0].model

    def compute(self, req: Request, **kw) -> Result:
        return self.pipes[req.model].compute(req, **kw)


__all__ = ["PairPipeline", "Pipeline", "Request", "Result", "failed_result"]
