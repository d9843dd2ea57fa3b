"""Replay a traced forward pass as plain calls: the captured forward at the cost of the plain forward.

The first forward pass of a model at an input size runs through the tracing TorchFunctionMode and the
module hooks that capture every layer's output (attribution.py). That costs Python work on every call
(the mode's dispatch, the hooks, a clone of each captured output). While the model and the input size
stay the same, the sequence of torch calls is the same too, so a `Tape` records it once: each call's
function, its arguments (a tensor argument is either the output of an earlier call, "a slot", or a
constant such as a weight) and its outputs. Later frames call the same functions on the new input with no
mode and no hooks, and read the layer outputs and the chain ops the cone backward needs from the slots.

When a tape would be wrong it is not used:
- a call returned a Python value that the model's code may branch on (`.item()`, `bool(x)`, `.tolist()`,
  comparisons): the model's control flow may depend on the data, so the tape is refused;
- a call that is not seen by the mode (or data-dependent Python code) would be missing: after recording,
  the tape is replayed on the same input and every captured output and the logits must be bit-identical
  to the traced pass, or the tape is dropped and every frame is traced as before.
The clones that protect captured outputs from in-place ops further on are left out of the replay when the
recorded forward changes no tensor in place (All-CNN-C: none do).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch.utils import _pytree as pytree

from .trace import SAME_OBJECT_IDENTITY, Op, relu_op

# calls whose non-tensor results depend only on shapes, dtypes and devices: constant for a fixed input size
SHAPE_FUNCS = {torch.Tensor.size, torch.Tensor.dim, torch.Tensor.numel, torch.Tensor.stride, torch.Tensor.__len__,
               torch.Tensor.is_contiguous, torch.Tensor.is_floating_point, torch.Tensor.element_size,
               torch.Tensor.nelement, torch.Tensor.ndimension, torch.Tensor.get_device, torch.Tensor.is_complex}
SHAPE_PROPERTIES = {"shape", "dtype", "device", "ndim", "is_cuda", "is_sparse", "layout", "requires_grad",
                    "is_leaf", "is_quantized", "is_meta", "is_mkldnn", "names"}


class Unreplayable(Exception):
    """The recorded forward cannot be replayed; the message says why (for tests and debugging)."""


@dataclass(frozen=True)
class _Slot:
    index: int


@dataclass
class _Call:
    func: object
    leaves: list                 # the flattened (args, kwargs): _Slot, a constant tensor or a literal
    spec: object                 # pytree spec of (args, kwargs); None when both are flat
    nargs: int                   # flat: the first nargs leaves are args, the rest kwargs values
    kwnames: tuple
    outs: list                   # the slot of each tensor output, in pytree order
    out_spec: object
    op: tuple | None = None      # (kind, input slot, params or None for a relu, in_shape): the chain op
    alias: bool = False          # a capture clone replaced by its input where nothing is changed in place


def _is_shape_call(func) -> bool:
    """A call whose Python result is fixed by the input's shape: x.size(), x.dim(), x.shape (a property:
    the mode sees its getter, whose __self__ is the descriptor named "shape")."""
    if func in SHAPE_FUNCS:
        return True
    return getattr(func, "__name__", "") == "__get__" and \
        getattr(getattr(func, "__self__", None), "__name__", None) in SHAPE_PROPERTIES


class TapeRecorder:
    """Fed every call of one traced forward pass by the tracing mode; builds a Tape at the end."""

    def __init__(self, x: torch.Tensor):
        self.slot_of: dict[int, int] = {id(x): 0}
        self.keep: list[torch.Tensor] = [x]          # every slot tensor, so that ids stay unique
        self.calls: list[_Call] = []
        self.mutates = False
        self.refused = ""
        self.captures: set[int] = set()              # indices of calls that are capture clones

    def record(self, func, args, kwargs, out, op: Op | None) -> None:
        if self.refused:
            return
        out_leaves, out_spec = pytree.tree_flatten(out)
        if not any(isinstance(t, torch.Tensor) for t in out_leaves):
            if not _is_shape_call(func):
                self.refused = f"{getattr(func, '__name__', func)} returned a Python value the model may branch on"
            return
        if any(not isinstance(t, torch.Tensor) for t in out_leaves):
            self.refused = f"{getattr(func, '__name__', func)} returned tensors mixed with Python values"
            return
        flat = not any(isinstance(v, (list, tuple, dict)) for v in (*args, *kwargs.values()))
        if flat:
            raw, spec, nargs, kwnames = [*args, *kwargs.values()], None, len(args), tuple(kwargs)
        else:
            raw, spec = pytree.tree_flatten((tuple(args), dict(kwargs)))
            nargs, kwnames = 0, ()
        leaves = [_Slot(self.slot_of[id(v)]) if isinstance(v, torch.Tensor) and id(v) in self.slot_of else v
                  for v in raw]
        ins = {id(v) for v in raw if isinstance(v, torch.Tensor)}
        outs = []
        for t in out_leaves:
            if id(t) in ins:  # handed back one of its inputs: changed in place (or a no-op such as eval dropout)
                self.mutates = self.mutates or func not in SAME_OBJECT_IDENTITY
                outs.append(self.slot_of[id(t)] if id(t) in self.slot_of else self._new(t))
            else:
                outs.append(self._new(t))
        rec_op = None
        if op is not None and op.kind == "unsupported":  # changed in place: no chain runs through it
            rec_op = ("unsupported", None, None, ())
        elif op is not None and op.kind == "add":   # in place (`out += b`: out's earlier value) or a + b
            other = self.slot_of.get(op.params[0])
            src = None if op.input_id < 0 else self.slot_of.get(op.input_id)
            if other is None or (src is None and op.input_id >= 0):
                self.refused = "an addition reads a tensor made outside the traced calls"
                return
            rec_op = ("add", src, other, op.in_shape)
        elif op is not None:
            src = self.slot_of.get(op.input_id)
            if src is None:
                self.refused = "a chain op reads a tensor made outside the traced calls"
                return
            rec_op = (op.kind, src, None if op.kind == "relu" else op.params, op.in_shape)
        self.calls.append(_Call(func, leaves, spec, nargs, kwnames, outs, out_spec, rec_op))

    def mark_capture(self, clone: torch.Tensor) -> None:
        """The last call was the clone that protects a captured layer output from later in-place ops."""
        if self.calls and self.calls[-1].outs == [self.slot_of.get(id(clone))]:
            self.captures.add(len(self.calls) - 1)

    def _new(self, t: torch.Tensor) -> int:
        self.slot_of[id(t)] = len(self.keep)
        self.keep.append(t)
        return self.slot_of[id(t)]

    def tape(self, outputs: dict[str, torch.Tensor], logits: torch.Tensor) -> "Tape":
        if self.refused:
            raise Unreplayable(self.refused)
        missing = [n for n, t in [*outputs.items(), ("logits", logits)] if id(t) not in self.slot_of]
        if missing:
            raise Unreplayable(f"{missing[0]} is not the result of a traced call")
        if not self.mutates:
            for i in self.captures:
                self.calls[i].alias = True
        return Tape(self.calls, len(self.keep), {n: self.slot_of[id(t)] for n, t in outputs.items()},
                    self.slot_of[id(logits)])


@dataclass
class Tape:
    calls: list[_Call]
    n_slots: int
    layer_slots: dict[str, int]
    logits_slot: int

    def replay(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[int, Op]]:
        """The layer outputs, the logits and the chain ops (output id -> Op) of the forward on x. Every slot
        is alive until the end, so the ops' ids are unique."""
        slots: list = [None] * self.n_slots
        slots[0] = x
        ops: dict[int, Op] = {}
        for c in self.calls:
            if c.alias:
                slots[c.outs[0]] = slots[c.leaves[0].index]
                continue
            vals = [slots[v.index] if type(v) is _Slot else v for v in c.leaves]
            if c.spec is None:
                out = c.func(*vals[:c.nargs], **dict(zip(c.kwnames, vals[c.nargs:]))) if c.kwnames else c.func(*vals)
            else:
                args, kwargs = pytree.tree_unflatten(vals, c.spec)
                out = c.func(*args, **kwargs)
            if len(c.outs) == 1:
                slots[c.outs[0]] = out if isinstance(out, torch.Tensor) else pytree.tree_leaves(out)[0]
            else:
                for s, t in zip(c.outs, pytree.tree_leaves(out)):
                    slots[s] = t
            if c.op is not None:
                kind, src, params, in_shape = c.op
                o = slots[c.outs[0]]
                if kind == "unsupported":
                    ops[id(o)] = Op(kind, -1, id(o))
                    continue
                if kind == "add":
                    ops[id(o)] = _addition(ops, slots, src, params, o, in_shape)
                    continue
                f = slots[src]
                ops[id(o)] = relu_op(f, o) if kind == "relu" else \
                    Op(kind, id(f), id(o), params, in_shape, (f, f._version) if kind in ("conv", "maxpool") else ())
        outputs = {n: slots[s] for n, s in self.layer_slots.items()}
        return outputs, slots[self.logits_slot], ops


def _addition(ops: dict[int, Op], slots: list, src: int | None, other: int, o: torch.Tensor, in_shape) -> Op:
    """The replayed addition: a + b, or `o += b` (src None), whose first summand is o's earlier value, kept under
    a new key as the trace does (trace.TracingReluMode._in_place_add)."""
    if src is not None:
        return Op("add", id(slots[src]), id(o), (id(slots[other]),), in_shape)
    key = min([k for k in ops if k < 0], default=-1) - 1
    prev = ops.get(id(o))
    if prev is not None:
        ops[key] = replace(prev, output_id=key)
    return Op("add", key, id(o), (id(slots[other]),), in_shape)


def same_pass(a: tuple[dict, torch.Tensor], b: tuple[dict, torch.Tensor]) -> bool:
    """Bit-identical captured outputs and logits (the check a new tape must pass)."""
    (oa, la), (ob, lb) = a, b
    return oa.keys() == ob.keys() and torch.equal(la, lb) and all(
        oa[k].shape == ob[k].shape and torch.equal(oa[k], ob[k]) for k in oa)
