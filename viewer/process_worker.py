"""The model in a process of its own (the default on the CPU: `--worker auto`, or `--worker process`): the Worker's
contract (submit never blocks, the latest request wins, interim results, a newer request of another kind stops a
long step, a failure comes back as a failed Result) with the pipeline rebuilt in a spawned child from picklable
parts. Requests and results travel pickled through two pipes. The child has one thread: it reads the requests
waiting between steps (and between a long step's chunks); in the window's process a thread only receives results.
If the child dies, the window says so; if it dies before its model is ready, the model runs in a thread here.

Why (issue 36): on 2 cores the window's drawing slowed the worker thread by more than the drawing's own CPU time;
with the model in its own process the app kept 91-107% (W) and 77-95% (224x224) of the same step's rate alone,
against the thread's 82-88% and 73-82% in the same runs (`python -m viewer.bench process`, docs/speed.md)."""
from __future__ import annotations

import multiprocessing as mp
import threading
from dataclasses import dataclass

from .requests import Request, Result, failed_result
from .worker import Worker


@dataclass(frozen=True)
class Part:
    """What one pipeline is made of: the model (moved to its device), its layers, input spec and output."""
    model: object
    layers: list
    spec: object
    output: str | None = None


@dataclass(frozen=True)
class Recipe:
    """The pipeline to build in the child: one Part, or two for --compare (a PairPipeline)."""
    sides: tuple[Part, ...]
    bf16: bool = False

    def build(self):
        from .pipeline import PairPipeline, Pipeline
        pipes = [Pipeline(s.model, s.layers, s.spec, bf16=self.bf16, output=s.output) for s in self.sides]
        return pipes[0] if len(pipes) == 1 else PairPipeline(*pipes)


_STOP = object()
READY = "ready"     # the child's first message: its pipeline is built
STOP_WAIT_S = 0.5   # how long shutdown waits for a child to end by itself (an idle one ends at once)


def _serve(requests, results, recipe: Recipe) -> None:
    """The child: build the pipeline, then compute the newest request until told to stop (None). One thread: the
    requests waiting are read between steps and between a long step's chunks (a thread receiving them beside the
    model cost the model its turns at the interpreter, as the window's thread does in the window's process)."""
    work = Worker.__new__(Worker)           # Worker's compute (failures as Results, memory handed back), no thread
    work.pipeline, work._shape = recipe.build(), None
    results.send(READY)                     # built: from here on a failure is a Result, not a fallback
    waiting: list = [None]                  # the newest request not yet started, or _STOP

    def drain(block: bool = False) -> None:
        while waiting[0] is not _STOP and (block or requests.poll()):
            block = False
            try:
                req = requests.recv()
            except (EOFError, OSError):
                req = None
            waiting[0] = _STOP if req is None else req        # latest wins

    def superseded(req: Request) -> bool:
        drain()
        return waiting[0] is _STOP or (waiting[0] is not None and waiting[0].key() != req.key())

    def send(res: Result) -> None:
        try:
            results.send(res)
        except (EOFError, OSError, BrokenPipeError):
            waiting[0] = _STOP
        except Exception as e:             # a part that does not pickle: said in the window, not fatal
            results.send(failed_result(res.request, e))
    while True:
        drain(block=waiting[0] is None)
        req, waiting[0] = waiting[0], (_STOP if waiting[0] is _STOP else None)
        if req is _STOP:
            return
        send(work._compute(req, send, lambda r=req: superseded(r)))


def unpicklable(recipe: Recipe) -> str:
    """Why the recipe cannot travel to a child ("" where it can): a TorchScript module, a model holding a lambda or
    an open file does not pickle; the window then keeps the model in a thread."""
    import pickle
    try:
        pickle.dumps(recipe, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:                     # pickling raises TypeError, PicklingError, RuntimeError, ...
        return f"{type(e).__name__}: {e}"
    return ""


class ProcessWorker:
    """The Worker's interface (submit, latest, idle, wait_idle, run_sync, shutdown, completed) with the pipeline
    in a child process. A child that ends before its pipeline is built (a model that pickles here but does not
    load there, a child that cannot start) is replaced by a Worker thread in this process, said in the terminal
    and by `where`; a child that ends later is said in the window (its results fail)."""

    def __init__(self, recipe: Recipe):
        ctx = mp.get_context("spawn")          # a fresh interpreter: no forked torch or OpenMP state
        self.recipe = recipe
        req_r, self._requests = ctx.Pipe(duplex=False)
        self._results, res_w = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_serve, args=(req_r, res_w, recipe), name="cnn-viewer model", daemon=True)
        self._proc.start()
        req_r.close()
        res_w.close()
        self._lock = threading.Lock()
        self._result: Result | None = None
        self._sent, self._got, self._last = 0, 0, None
        self._dead: Exception | None = None    # why the child ended, once it has
        self._stopping = False
        self._local = None                     # run_sync's own pipeline, made when first asked
        self._ready = False                    # the child said its pipeline is built
        self._thread_worker: Worker | None = None   # the fallback where the child never got that far
        self._completed = 0
        # the newest request not yet sent: a thread sends it, as a frame (hundreds of KB) fills the pipe and its send
        # waits until the child reads, which it does between steps: submit() on the window's thread never waits
        self._outbox: list = []
        self._out_cv = threading.Condition()
        self._sender = threading.Thread(target=self._send, name="requests", daemon=True)
        self._sender.start()
        self._thread = threading.Thread(target=self._receive, name="results", daemon=True)
        self._thread.start()

    def _send(self) -> None:
        while True:
            with self._out_cv:
                while not self._outbox:
                    self._out_cv.wait()
                req = self._outbox.pop()               # the newest: _post replaced any older one not yet sent
            try:
                self._requests.send(req)
            except (EOFError, OSError):
                return                                 # the child ended: the results thread says so
            if req is None:
                return

    def _post(self, req: Request | None) -> None:
        with self._out_cv:
            self._outbox[:] = [req]
            self._out_cv.notify()

    def _receive(self) -> None:
        while True:
            try:
                res = self._results.recv()
            except (EOFError, OSError):
                break
            if isinstance(res, str) and res == READY:
                self._ready = True
                continue
            with self._lock:
                self._result = res
                if not res.interim:
                    self._got, self._completed = max(self._got, res.request.seq), self._completed + 1
        self._proc.join(5.0)                   # the only thread that waits for the process
        if not self._ready and not self._stopping and self._fall_back():
            return
        with self._lock:
            self._dead = RuntimeError(f"the model's process ended (exit code {self._proc.exitcode}; its message is "
                                      "in the terminal); restart the viewer")
            if self._last is not None and not self._stopping:
                self._result, self._got = failed_result(self._last, self._dead), self._sent

    def _fall_back(self) -> bool:
        """The pipeline in a thread of this process, where the child ended before building it; False where it
        cannot be built here either (then the window says that the process ended)."""
        try:
            worker = Worker(self.recipe.build())
        except Exception:                      # noqa: BLE001  said as the process's end, as before
            return False
        with self._lock:
            if not self._stopping:             # the window may have closed while the pipeline was built
                self._thread_worker, last = worker, self._last
        if self._thread_worker is not worker:
            worker.shutdown()
            return True
        print(f"note: the model's process ended before its model was ready (exit code {self._proc.exitcode}; its "
              "message is above); the model runs in a thread beside the window instead", flush=True)
        if last is not None:
            worker.submit(last)
        return True

    @property
    def where(self) -> str:
        """Where the model runs, for the status bar."""
        if self._thread_worker is not None:
            return "thread (its process did not start)"
        return "own process (ended)" if self._dead is not None else "own process"

    @property
    def completed(self) -> int:
        return self._completed + (self._thread_worker.completed if self._thread_worker is not None else 0)

    def submit(self, req: Request) -> None:
        """Never waits: the request is posted to the sending thread (or to the fallback thread's worker)."""
        with self._lock:
            fallback = self._thread_worker
            if fallback is None:
                self._sent, self._last = req.seq, req
                if self._dead is not None:     # said at once, not waited for
                    self._result, self._got = failed_result(req, self._dead), req.seq
                    return
        if fallback is not None:
            return fallback.submit(req)
        self._post(req)

    def latest(self) -> Result | None:
        with self._lock:
            fallback, res = self._thread_worker, self._result
        return (fallback.latest() or res) if fallback is not None else res

    def idle(self) -> bool:
        with self._lock:
            fallback, idle = self._thread_worker, self._got >= self._sent
        return fallback.idle() if fallback is not None else idle

    wait_idle = Worker.wait_idle               # polls idle() until it holds or the timeout passes

    def run_sync(self, req: Request) -> Result:
        """On the caller's thread, with a pipeline of its own (tests, the sync loop)."""
        if self._local is None:
            self._local = Worker.__new__(Worker)
            self._local.pipeline, self._local._shape = self.recipe.build(), None
        res = self._local._compute(req, None, lambda: False)
        with self._lock:
            self._result = res
        return res

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Ask the child to stop, and wait for the results thread, which reaps it (one thread only waits for the
        process: two waiting at once made one of them see it alive after it had ended). A child still in a step
        after STOP_WAIT_S is terminated: it keeps nothing, and the window would otherwise wait for the step."""
        with self._lock:
            self._stopping = True
        self._post(None)
        self._thread.join(min(timeout, STOP_WAIT_S))
        if self._thread.is_alive():            # in a step: stop it
            self._proc.terminate()
            self._thread.join(timeout)
        self._sender.join(timeout)             # its send fails once the child has ended
        fallback = self._thread_worker.shutdown(timeout) if self._thread_worker is not None else True
        return fallback and not self._thread.is_alive() and not self._sender.is_alive() and \
            self._proc.exitcode is not None
