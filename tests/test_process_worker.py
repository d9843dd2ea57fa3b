"""--worker process (viewer/process_worker.py): the model in a spawned child gives the results the pipeline gives
in this process, the newest request is the last answered, a failure comes back as a failed Result, a dead child
is said in one sentence, and shutdown ends the child."""
import dataclasses

import numpy as np
import pytest

from viewer.bench import common
from viewer.core.attribution import ChannelTarget
from viewer.core.graph import build_graph
from viewer.core.rules import Method
from viewer.features.whole_layer import Units
from viewer.pipeline import Pipeline
from viewer.process_worker import Part, ProcessWorker, Recipe
from viewer.requests import Request
from viewer.sources import DemoSource


@pytest.fixture(scope="module")
def spawned(random_checkpoint):
    model, label, spec, classes = common.load_allcnn(random_checkpoint)
    layers = build_graph(model)
    w = ProcessWorker(Recipe((Part(model, layers, spec),)))
    yield w, Pipeline(model, layers, spec)
    assert w.shutdown()
    assert not w._proc.is_alive()


def test_the_child_gives_this_process_result_for_the_newest_request(spawned):
    w, pipe = spawned
    src = DemoSource()
    reqs = [Request(src.read(), 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED, seq=s,
                    parts={"whole_layer": Units(0, 16)} if s == 3 else {}) for s in (1, 2, 3)]
    for r in reqs:
        w.submit(r)
    assert w.wait_idle(60)
    got, want = w.latest(), pipe.compute(dataclasses.replace(reqs[2]))
    assert got.request.seq == 3 and not got.failed
    assert np.allclose(got.recon, want.recon, rtol=1e-5, atol=1e-7)
    assert np.allclose(got.activation, want.activation, rtol=1e-5, atol=1e-7)
    a, b = got.part("whole_layer"), want.part("whole_layer")
    assert np.allclose(a.recons, b.recons, rtol=1e-5, atol=1e-7) and np.array_equal(a.positions, b.positions)


def test_a_failure_in_the_child_comes_back_as_a_failed_result(spawned):
    w, _ = spawned
    w.submit(Request(DemoSource().read(), 0, "no_such_layer", ChannelTarget("no_such_layer", 0), Method.GUIDED,
                     seq=10))
    assert w.wait_idle(60)
    res = w.latest()
    assert res.request.seq == 10 and res.failed


def test_a_child_that_dies_is_said_in_one_sentence(random_checkpoint):
    model, label, spec, classes = common.load_allcnn(random_checkpoint)
    w = ProcessWorker(Recipe((Part(model, build_graph(model), spec),)))
    req = Request(DemoSource().read(), 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED, seq=1)
    w.submit(req)
    assert w.wait_idle(60)
    w._proc.kill()
    w.submit(dataclasses.replace(req, seq=2))
    assert w.wait_idle(10)
    res = w.latest()
    assert res.failed and "the model's process ended" in res.error
    w.shutdown()


def test_the_window_on_a_process_shows_its_results_as_up_to_date(pygame_display, random_checkpoint):
    """The App on a ProcessWorker: results arrive, the panes draw them, and the status bar calls the result of the
    frame on screen current (the child's copy of the frame is matched by the request's number)."""
    import time

    from viewer.app import App
    from viewer.panes.base import PaneView
    model, label, spec, classes = common.load_allcnn(random_checkpoint)
    layers = build_graph(model)
    w = ProcessWorker(Recipe((Part(model, layers, spec),)))
    try:
        app = App(pygame_display.display.set_mode((1280, 800)), DemoSource(size=64), w, layers, classes, label)
        app.session.paused = True          # one frame: its result becomes current
        t0 = time.perf_counter()
        while app.result is None and time.perf_counter() - t0 < 60:
            app.step(fps=0)
        assert app.result is not None and not app.result.failed
        for _ in range(5):                 # the first result picks the layer's most active unit: a new request
            assert w.wait_idle(60)
            app.step(fps=0)
        view = app.view(time.perf_counter())
        assert isinstance(view, PaneView) and view.result_is_current
        app.draw()
    finally:
        assert w.shutdown()


def test_a_child_that_cannot_build_its_pipeline_is_said_at_the_first_request(random_checkpoint):
    import time
    model, label, spec, classes = common.load_allcnn(random_checkpoint)
    w = ProcessWorker(Recipe((Part(None, build_graph(model), spec),)))    # no model: the child cannot start
    t0 = time.perf_counter()
    while w._dead is None and time.perf_counter() - t0 < 60:
        time.sleep(0.01)
    w.submit(Request(DemoSource().read(), 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED, seq=1))
    assert w.wait_idle(1)
    assert w.latest().failed and "the model's process ended" in w.latest().error
    w.shutdown()


def test_a_model_that_pickles_here_but_does_not_load_in_the_child_runs_in_a_thread(random_checkpoint, capsys):
    """A model whose class lives in a module that only this process has (made at run time): pickle.dumps works here,
    the child cannot import it and ends before its pipeline is built; the worker then runs it in a thread."""
    import sys
    import types

    from viewer.nets import AllCNNC
    ghost = types.ModuleType("ghost_models")
    ghost.Ghost = type("Ghost", (AllCNNC,), {"__module__": "ghost_models"})
    sys.modules["ghost_models"] = ghost
    try:
        inner, label, spec, classes = common.load_allcnn(random_checkpoint)
        model = ghost.Ghost()
        model.load_state_dict(inner.state_dict())
        model.eval()
        layers = build_graph(model)
        w = ProcessWorker(Recipe((Part(model, layers, spec),)))
        req = Request(DemoSource().read(), 0, "conv6", ChannelTarget("conv6", 5), Method.GUIDED, seq=1)
        w.submit(req)
        assert w.wait_idle(90)
        got, want = w.latest(), Pipeline(model, layers, spec).compute(req)
        assert not got.failed and got.request.seq == 1 and w.completed == 1
        assert np.allclose(got.recon, want.recon, rtol=1e-5, atol=1e-7)
        assert w.where.startswith("thread") and "runs in a thread" in capsys.readouterr().out
        assert w.shutdown() and not w._proc.is_alive()
    finally:
        del sys.modules["ghost_models"]


def test_submit_never_waits_for_the_pipe_and_the_newest_request_is_sent(random_checkpoint):
    """A frame fills the pipe, whose send waits until the child reads it, between its steps: the window's thread must
    not wait there. A send held back by hand: submit returns at once, and of the requests posted meanwhile only the
    newest is sent."""
    import threading
    import time
    model, label, spec, classes = common.load_allcnn(random_checkpoint)
    w = ProcessWorker(Recipe((Part(model, build_graph(model), spec),)))
    gate, sent, real = threading.Event(), [], w._requests.send

    def held(req):
        gate.wait(30)
        sent.append(None if req is None else req.seq)
        real(req)
    w._requests.send = held
    reqs = [Request(DemoSource().read(), 0, "conv6", ChannelTarget("conv6", c), Method.GUIDED, seq=c + 1)
            for c in range(3)]
    w.submit(reqs[0])
    t0 = time.perf_counter()
    while w._outbox and time.perf_counter() - t0 < 10:     # the sender has taken it and waits in its send
        time.sleep(0.005)
    w.submit(reqs[1])
    w.submit(reqs[2])            # returned although the send of the first is held
    assert sent == []
    gate.set()
    assert w.wait_idle(60)
    assert sent == [1, 3] and w.latest().request.seq == 3 and not w.latest().failed
    assert w.shutdown() and sent[-1] is None


def test_the_sync_mode_computes_on_the_callers_thread_as_the_pipeline_does(spawned):
    w, pipe = spawned
    req = Request(DemoSource().read(), 0, "conv4", ChannelTarget("conv4", 3), Method.DECONVNET, seq=20)
    got, want = w.run_sync(req), pipe.compute(req)
    assert w.latest() is got and got.request.seq == 20
    assert np.allclose(got.recon, want.recon, rtol=1e-5, atol=1e-7)


def test_a_model_that_cannot_travel_to_a_child_is_named_before_one_is_started(random_checkpoint):
    """unpicklable(): a TorchScript module (and a module holding a lambda) cannot be pickled to a child; the launcher
    then keeps the model in a thread and says so. The plain model can."""
    import torch

    from viewer.process_worker import unpicklable
    model, label, spec, classes = common.load_allcnn(random_checkpoint)
    layers = build_graph(model)
    assert unpicklable(Recipe((Part(model, layers, spec),))) == ""
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    assert unpicklable(Recipe((Part(scripted, layers, spec),)))
    holder = torch.nn.Linear(2, 2)
    holder.hook = lambda x: x
    assert "lambda" in unpicklable(Recipe((Part(holder, layers, spec),)))
