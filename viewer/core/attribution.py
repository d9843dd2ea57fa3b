"""Activations and attributions for any unit of any layer, from one shared forward pass.

    analyzer = Analyzer(model, layers)            # layers from graph.build_graph
    fp = analyzer.forward(x)                      # (1, 3, H, W) -> activations of every layer + logits
    res = analyzer.attribute(fp, [ChannelTarget("conv6", 12)], Method.GUIDED)   # (K, 3, H, W)

The forward runs with every relu routed to RuleReLU (rules.py), so gradient, deconvnet and guided
backprop all reuse it. Gradients come from torch.autograd.grad on a fresh input leaf; parameters do not
require grad during the forward (their flags are restored), so no weight gradients and no `.grad` are
produced. Hooks live only inside try/finally. K targets of one layer are K separate one-hot seeds on a
batch dimension (autograd.grad with is_grads_batched): never summed, since the rules are not linear.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .cone import ConePlan, NotAChain, compile_chain, cone_backward
from .cone_dag import compile_dag, dag_backward
from .graph import CallCounter, LayerInfo, candidate_modules, layer_name
from .outputs import OutputError, logits_of
from .replay import Tape, TapeRecorder, Unreplayable, same_pass
from .rules import Method, RuleState
from .targets import (  # the tool imports the targets from here too
    LOGITS,
    AttributionError,
    ChannelTarget,
    ClassTarget,
    Target,
    UnitTarget,
    resolve,
    resolve_many,
)
from .trace import Op, TracingReluMode, chain_to


@dataclass
class GraphPass:
    """Where a pass without an autograd graph keeps the same pass recomputed with one, once needed."""
    fp: "ForwardPass | None" = None


@dataclass(frozen=True)
class ForwardPass:
    x: torch.Tensor                          # the input leaf, (1, C, H, W), requires grad
    outputs: dict[str, torch.Tensor]         # layer name -> output in the graph, (1, C, H, W) or (1, C)
    logits: torch.Tensor                     # (1, classes)
    relus_before: dict[str, int]             # relu calls made before each layer's output was produced
    relus_total: int
    state: RuleState = field(repr=False)
    ops: dict[int, Op] = field(default_factory=dict, repr=False)   # traced chain ops, for cone_backward
    plans: dict[str, ConePlan | None] = field(default_factory=dict, repr=False)  # layer -> its cone, or None
    graph: GraphPass = field(default_factory=lambda: GraphPass(), repr=False)   # the same pass with a graph
    lrp: dict = field(default_factory=dict, repr=False)   # composite name -> the same pass as LRP rules (lrp.py)

    def activation(self, layer: str) -> torch.Tensor:
        """The layer's output for display, detached, fp32: (C, H, W) or (C,)."""
        return self.output(layer).detach()[0].float()

    def output(self, layer: str) -> torch.Tensor:
        """The layer's output as captured (in the graph where the pass has one): (1, C, H, W) or (1, C)."""
        if layer == LOGITS:
            return self.logits
        try:
            return self.outputs[layer]
        except KeyError:
            raise AttributionError(f"unknown layer '{layer}' (known: {', '.join(self.outputs)})") from None


@dataclass(frozen=True)
class Attribution:
    images: torch.Tensor                     # (K, C, H, W) signed input-space reconstructions
    units: tuple[UnitTarget, ...]            # the resolved units (a class target: layer "logits")
    values: tuple[float, ...]                # the seeded activation (or logit) of each unit

    def inactive(self, k: int) -> bool:
        """Gradient and guided backprop of a unit whose activation is 0 are exactly zero."""
        return self.values[k] <= 0.0 and self.units[k].layer != LOGITS


class Analyzer:
    """fast=True back-propagates only through each unit's cone where the path to its layer is a chain of
    convolutions (cone.py); elsewhere, and with fast=False, through autograd. Both are exact in fp32;
    bf16=True runs the cone's transposed convolutions in bfloat16 (faster, about 1e-2 relative error);
    bf16_forward=True runs the forward pass under bfloat16 autocast (about 2-3x faster on CPUs with bf16
    units; activations, and so the ReLU masks near zero, differ slightly from fp32). replay=True replays
    the first traced pass at an input size as plain calls on later frames (replay.py; a pass without an
    autograd graph then costs about what the plain forward costs). A replayed pass runs the recorded calls,
    not the model's Python code: new parameter values are seen (the weights are the same tensors), but
    hooks registered on the model later or a changed forward are not; call forget_replays() after such a
    change. output: which part of the model's return value is the logits where it is not a tensor (a tuple, a
    dict, an object with .logits; core/outputs.py). pixel_bounds: the lowest and highest pixel in the model's
    units, (1, C, 1, 1) each (lrp_method.pixel_bounds from the input spec), for LRP's zB rule."""

    def __init__(self, model: nn.Module, layers: list[LayerInfo], fast: bool = True, bf16: bool = False,
                 bf16_forward: bool = False, replay: bool = True, output: str | None = None,
                 pixel_bounds: tuple | None = None):
        self.model, self.fast, self.bf16, self.bf16_forward, self.replay = model, fast, bf16, bf16_forward, replay
        self.output = output   # which part of the model's return value is the logits (core/outputs.py)
        self._want_graph = not fast
        self._tapes: dict[tuple, tuple[Tape, dict, int] | None] = {}  # input key -> verified tape, or None
        self.replay_refused = ""  # why the last tape was not used (empty when it was, or none was tried)
        self._folded: dict = {}   # BatchNorm-folded weights of the cone, kept across frames (cone.fold_weight)
        self.lrp_weights: dict = {}   # the same for the LRP cone (lrp_cone.merged_weights)
        self.pixel_bounds = pixel_bounds   # (low, high), (1, C, 1, 1) in model units: LRP's zB rule (lrp.py)
        self.layers = {l.name: l for l in layers}
        wanted = {l.module_name for l in layers}
        # the modules that produce a layer, each once (a block and its leaves are both candidates)
        self._modules = list(dict((n, m) for n, m in candidate_modules(model, leaves=True) + candidate_modules(model)
                                  if n in wanted).items())

    def forget_replays(self) -> None:
        """Drop the recorded tapes: the next pass at each input size is traced (and recorded) again."""
        self._tapes.clear()

    # --- forward ------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, grad: bool | None = None, mode=None) -> ForwardPass:
        """One forward pass in eval mode on a fresh leaf; flags are restored afterwards. Without an autograd
        graph (grad=False) it is about twice as fast, and the cone path needs none; attribute() builds the
        graph on demand where a layer needs autograd. grad=None: with a graph once some layer needed one.
        mode: another TorchFunctionMode for the calls (lrp.LrpMode: the pass's backward is relevance), in fp32,
        with a graph, never replayed."""
        grad = True if mode is not None else self._want_graph if grad is None else grad
        leaf = x.detach().clone().requires_grad_(grad)
        key = (tuple(leaf.shape), leaf.dtype, leaf.device, self.bf16_forward)
        use_tape = self.replay and not grad and mode is None
        if use_tape and self._tapes.get(key) is not None:
            return self._replayed(leaf, *self._tapes[key])
        outputs: dict[str, torch.Tensor] = {}
        relus_before: dict[str, int] = {}
        state = RuleState()
        recorder = TapeRecorder(leaf) if use_tape and key not in self._tapes else None
        mode = mode or TracingReluMode(state, recorder)

        def record(name, call, output):
            lname = layer_name(name, call)
            if lname in self.layers and isinstance(output, torch.Tensor):
                outputs[lname] = output
                relus_before[lname] = mode.calls
                clone = output.clone()  # in-place ops further on modify the clone, not what we keep
                if recorder is not None:
                    recorder.mark_capture(clone)
                return clone
            return None
        # eval mode and parameters without grad for the call, restored after it (only what needs changing:
        # a model already in eval mode, or a pass without a graph, costs nothing here)
        flags = [(m, True) for m in self.model.modules() if m.training]
        grads = [(p, True) for p in self.model.parameters() if p.requires_grad] if grad else []
        try:
            if flags:
                self.model.eval()  # through train(False), in case the model overrides it
            for p, _ in grads:
                p.requires_grad_(False)
            with torch.set_grad_enabled(grad), CallCounter(self._modules, record), mode, \
                    torch.autocast(leaf.device.type, dtype=torch.bfloat16,
                                   enabled=self.bf16_forward and isinstance(mode, TracingReluMode)):
                try:
                    logits = logits_of(self.model(leaf), self.output)
                except OutputError as e:
                    raise AttributionError(str(e)) from None
        finally:
            for m, t in flags:
                m.training = t
            for p, r in grads:
                p.requires_grad_(r)
        if recorder is not None:
            self._tapes[key] = self._verified(recorder, leaf, outputs, logits, relus_before, mode.calls, mode.ops)
        return ForwardPass(leaf, outputs, logits, relus_before, mode.calls, state, mode.ops)

    def _replayed(self, leaf: torch.Tensor, tape: Tape, relus_before: dict, relus_total: int) -> ForwardPass:
        with torch.no_grad(), torch.autocast(leaf.device.type, dtype=torch.bfloat16, enabled=self.bf16_forward):
            outputs, logits, ops = tape.replay(leaf)
        return ForwardPass(leaf, outputs, logits, dict(relus_before), relus_total, RuleState(), ops)

    def _verified(self, recorder: TapeRecorder, leaf, outputs, logits, relus_before, relus_total, ops):
        """The recorded tape if replaying it on the same input gives bit-identical outputs and the same chain
        ops (but the identities that the replay leaves out), else None."""
        try:
            tape = recorder.tape(outputs, logits)
        except Unreplayable as e:
            self.replay_refused = str(e)
            return None
        entry = (tape, dict(relus_before), relus_total)
        again = self._replayed(leaf, *entry)
        kinds = lambda d: sorted(o.kind for o in d.values() if o.kind != "identity")  # noqa: E731
        if not same_pass((outputs, logits), (again.outputs, again.logits)) or kinds(ops) != kinds(again.ops):
            self.replay_refused = "replaying the tape did not reproduce the traced pass"
            return None
        self.replay_refused = ""
        return entry

    def _with_graph(self, fp: ForwardPass) -> ForwardPass:
        """fp itself if it has an autograd graph, else the same pass recomputed with one (cached)."""
        if fp.x.requires_grad:  # the leaf of a pass with a graph
            return fp
        if fp.graph.fp is None:
            self._want_graph = True
            fp.graph.fp = self.forward(fp.x, grad=True)
        return fp.graph.fp

    # --- targets ------------------------------------------------------------------------------------
    resolve = staticmethod(resolve)   # targets.resolve: (fp, target) -> UnitTarget

    # --- attribution --------------------------------------------------------------------------------
    def attribute(self, fp: ForwardPass, targets: list[Target], method: Method) -> Attribution:
        """Input-space reconstructions of K targets, (K, C, H, W); targets may be in different layers."""
        units = resolve_many(fp, targets)
        if method.changes_gradient:   # without a ReLU to apply it to, the rule would change nothing
            for u in units:
                before = fp.relus_total if u.layer == LOGITS else fp.relus_before[u.layer]
                if before == 0:
                    raise AttributionError(
                        f"{method.label} needs a ReLU below '{u.layer}', and the model calls none there; "
                        "it would only repeat the plain gradient (B or --method gradient shows that)")
        images = torch.empty((len(units), *fp.x.shape[1:]), dtype=fp.x.dtype)   # on the CPU, for the window
        by_layer: dict[str, list[int]] = {}
        for k, u in enumerate(units):
            by_layer.setdefault(u.layer, []).append(k)
        for layer, ks in by_layer.items():
            out = fp.output(layer)
            sel = [units[k] for k in ks]
            plan = self._plan(fp, layer, out) if self.fast else None
            if plan is not None:
                back = cone_backward if isinstance(plan, ConePlan) else dag_backward
                images[ks] = back(plan, torch.tensor([u.channel for u in sel]), torch.tensor([u.y for u in sel]),
                                  torch.tensor([u.x for u in sel]), tuple(fp.x.shape[1:]), method,
                                  self.bf16).to(images.dtype).cpu()
                continue
            gfp = self._with_graph(fp)
            out = gfp.output(layer)
            seeds = torch.zeros((len(ks), *out.shape), dtype=out.dtype, device=out.device)  # (K, 1, ...)
            for i, u in enumerate(sel):
                seeds[(i, 0, u.channel, u.y, u.x) if out.dim() == 4 else (i, 0, u.channel)] = 1.0
            images[ks] = self._backward(gfp, out, seeds, method)[:, 0].to(images.dtype).cpu()
        values = [0.0] * len(units)
        for layer, ks in by_layer.items():  # one gather per layer, not three index ops per unit
            a = fp.output(layer).detach()[0].float()
            idx = [[units[k].channel for k in ks]] + ([[units[k].y for k in ks], [units[k].x for k in ks]]
                                                       if a.dim() == 3 else [])
            for k, v in zip(ks, a[tuple(torch.tensor(i) for i in idx)].tolist()):
                values[k] = v
        return Attribution(images, tuple(units), tuple(values))

    def _plan(self, fp: ForwardPass, layer: str, out: torch.Tensor):
        """The compiled cone of a layer, once per forward pass: a chain's (cone.py), a graph's with residual
        additions (cone_dag.py); None where neither runs it (autograd does)."""
        if layer not in fp.plans:
            chain = chain_to(fp.ops, id(fp.x), id(out)) if out.dim() == 4 else None
            try:
                fp.plans[layer] = compile_chain(chain, self._folded) if chain else None if out.dim() != 4 else \
                    compile_dag(fp.ops, id(fp.x), id(out), tuple(out.shape[1:]), self._folded)
            except NotAChain:   # anything else is a bug in the cone, not a reason to fall back quietly
                fp.plans[layer] = None
        return fp.plans[layer]

    def _backward(self, fp: ForwardPass, out: torch.Tensor, seeds: torch.Tensor, method: Method) -> torch.Tensor:
        with fp.state.using(method):
            if seeds.shape[0] == 1:
                (g,) = torch.autograd.grad(out, fp.x, seeds[0], retain_graph=True, allow_unused=True)
                g = g.unsqueeze(0) if g is not None else None
            else:
                (g,) = torch.autograd.grad(out, fp.x, seeds, retain_graph=True, is_grads_batched=True,
                                           allow_unused=True)
        if g is None:  # the layer does not depend on the input
            return torch.zeros((seeds.shape[0], *fp.x.shape), dtype=fp.x.dtype)
        return g.detach()

    # --- gradients at a layer -----------------------------------------------------------------------
    def layer_gradient(self, fp: ForwardPass, layer: str, class_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A layer's output and the plain gradient of a class logit with respect to it, both (1, C, ...) and
        detached: what Grad-CAM (gradcam.py) and its kin weigh a layer's channels by. The gradient needs an
        autograd graph: a pass without one is recomputed with one (once)."""
        unit = resolve(fp, ClassTarget(class_index))
        fp = self._with_graph(fp)
        act = fp.output(layer)
        seed = torch.zeros_like(fp.logits)                 # (1, classes): one-hot on the logit
        seed[0, unit.channel] = 1.0
        with fp.state.using(Method.GRADIENT):
            (g,) = torch.autograd.grad(fp.logits, act, seed, retain_graph=True)
        return act.detach(), g.detach()
