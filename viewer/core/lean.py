"""A forward pass that only reads layer outputs (the atlas's scan): the replay tape (replay.py) made lean.

The scan runs the model over a whole data set and keeps, per channel, each image's strongest activation; it
needs no chain ops, no masks and no autograd graph. Its forward then does three things the analyzer's replay
cannot (the cone reads every op of that one):
- each BatchNorm in eval mode is folded into the convolution that alone feeds it (W * s, (b - mean) * s + beta
  with s = gamma / sqrt(var + eps)): one pass over memory less per layer;
- each ReLU whose input nothing else reads runs in place (its input is a fresh tensor from a convolution or a
  folded BatchNorm): no new tensor and one stream less;
- calls that no wanted layer depends on are left out (an atlas of the first layers stops there).
Folding changes the activations in their last bits (float sums in another order: ~1e-6 of a layer's scale), so a
lean pass is checked against the exact replay on its first input (relative 1e-4 of each layer's largest value) and
not used where it differs more; `LeanForward` falls back to the analyzer's pass then, or where no tape exists.
The folded weights are read when a lean tape is made: make a new LeanForward after changing the weights.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

import torch

from .replay import Tape, Unreplayable, _Call, _Slot
from .trace import SAME_OBJECT_IDENTITY

TOLERANCE = 1e-4     # a lean pass's outputs against the exact replay's, relative to each layer's largest value


def _folded(conv: tuple, bn: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of conv followed by bn (the trace's Op params of each)."""
    w, *_, b = conv
    gamma, var, eps, mean, beta = bn
    s = (gamma.detach() if gamma is not None else torch.ones_like(var)) / torch.sqrt(var.detach() + eps)
    fw = w.detach() * s.view(-1, 1, 1, 1)          # in w's memory layout (channels last where the model's is)
    shift = (b.detach() if b is not None else torch.zeros_like(var)) - mean.detach()
    fb = shift * s + (beta.detach() if beta is not None else 0)
    return fw, fb.contiguous()


def _slots(c: _Call) -> list[int]:
    return [v.index for v in c.leaves if type(v) is _Slot]


def lean_tape(tape: Tape, wanted: list[str]) -> Tape:
    """A tape that computes the wanted layers' outputs (its logits slot is the last of them) as described above.
    Its ops are not the chain ops of the model: its replay's ops are for no cone. Unreplayable where the model
    changes in place a tensor that may be a view (only fresh convolution and BatchNorm outputs may be changed)."""
    calls = list(tape.calls)
    producer = {s: i for i, c in enumerate(calls) for s in c.outs}
    readers: Counter = Counter(v for c in calls for v in _slots(c))
    readers.update(tape.layer_slots.values())
    readers[tape.logits_slot] += 1
    fresh = {s for c in calls if not c.alias and c.op is not None and c.op[0] in ("conv", "bn") for s in c.outs}
    in_place = [i for i, c in enumerate(calls) if not c.alias and set(c.outs) & set(_slots(c)) and
                c.func not in SAME_OBJECT_IDENTITY]       # eval dropout hands back its input unchanged
    if any(not set(calls[i].outs) <= fresh for i in in_place):
        raise Unreplayable("the model changes in place a tensor that may be a view")
    for i, c in enumerate(calls):
        if c.alias or c.op is None or c.op[0] != "bn":
            continue
        _, src, params, _ = c.op
        conv_i = producer.get(src)
        conv = calls[conv_i] if conv_i is not None else None
        # the BatchNorm reads only the convolution's output, which nothing else reads; the convolution reads only
        # its input (its weight is no activation); nothing changes a tensor in place between the two calls
        if conv is None or conv.op is None or conv.op[0] != "conv" or readers[src] != 1 or _slots(c) != [src] or \
                _slots(conv) != [conv.op[1]] or params[1] is None or params[3] is None or \
                any(conv_i < j < i for j in in_place):
            continue
        _, stride, padding, dilation, groups, _ = conv.op[2]
        fw, fb = _folded(conv.op[2], params)
        calls[conv_i] = None                         # the convolution now writes the BatchNorm's slot
        calls[i] = _Call(torch.conv2d, [_Slot(conv.op[1]), fw, fb, stride, padding, dilation, groups], None, 7,
                         (), list(c.outs), c.out_spec, ("conv", conv.op[1], (fw, stride, padding, dilation, groups,
                                                                            fb), conv.op[3]))
    for i, c in enumerate(calls):
        if c is not None and not c.alias and c.op is not None and c.op[0] == "relu" and c.op[1] in fresh and \
                readers[c.op[1]] == 1 and c.op[1] != 0:
            calls[i] = _Call(torch.Tensor.clamp_min_, [_Slot(c.op[1]), 0], None, 2, (), list(c.outs), c.out_spec)
    changes = {id(c) for i, c in enumerate(calls) if i in in_place and c is not None}
    calls = [c for c in calls if c is not None]
    needed = {tape.layer_slots[n] for n in wanted}
    kept: list[_Call] = []
    for c in reversed(calls):    # calls no wanted slot depends on are left out; one that changes a tensor in place
        if needed.intersection(c.outs) or (kept and id(c) in changes):   # before a kept call is kept
            kept.append(c)
            needed.update(_slots(c))
    kept.reverse()
    slots = {n: tape.layer_slots[n] for n in wanted}
    return Tape([replace(c, op=None) for c in kept], tape.n_slots, slots, slots[wanted[-1]])


def close(lean: dict[str, torch.Tensor], exact: dict[str, torch.Tensor]) -> bool:
    """Every lean output within TOLERANCE of the exact one, relative to that layer's largest value."""
    return all(lean[n].shape == t.shape and bool(((lean[n] - t).abs().max() <= TOLERANCE * t.abs().max())
                                                 | (t.numel() == 0)) for n, t in exact.items())


class LeanForward:
    """Layer name -> output of the wanted layers for a batch: the lean tape where one could be made and checked for
    that input shape, else the analyzer's own pass. `lean` says whether the last call ran lean."""

    def __init__(self, analyzer, wanted: list[str]):
        self.analyzer, self.wanted = analyzer, list(wanted)
        self._tapes: dict[tuple, Tape | None] = {}
        self.lean = False

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        key = (tuple(x.shape), x.dtype, x.device, x.is_contiguous(memory_format=torch.channels_last))
        tape = self._tapes.get(key)
        if tape is None and key not in self._tapes:
            fp = self.analyzer.forward(x, grad=False)   # traced and recorded (or replayed) at this shape
            exact = {n: fp.outputs[n] for n in self.wanted}
            self._tapes[key] = tape = self._made(x, exact)
            self.lean = False
            return exact
        self.lean = tape is not None
        if tape is None:
            fp = self.analyzer.forward(x, grad=False)
            return {n: fp.outputs[n] for n in self.wanted}
        return tape.replay(x)[0]

    def _made(self, x: torch.Tensor, exact: dict[str, torch.Tensor]) -> Tape | None:
        a = self.analyzer
        entry = a._tapes.get((tuple(x.shape), x.dtype, x.device, a.bf16_forward))
        if entry is None or a.bf16_forward:
            return None
        try:
            tape = lean_tape(entry[0], self.wanted)
            return tape if close(tape.replay(x.detach().clone())[0], exact) else None
        except Exception:   # noqa: BLE001  a call that does not take the lean form: the analyzer's pass is right
            return None

