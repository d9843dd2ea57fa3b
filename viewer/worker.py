"""The inference thread: takes an immutable Request, runs the pipeline's step (viewer/pipeline.py), publishes
an immutable Result of CPU numpy arrays. A newer request replaces a pending one (latest wins). The thread
never touches pygame. run_sync() computes a result on the caller's thread (the sync app loop, tests)."""
from __future__ import annotations

import sys
import threading
import time

from .core.memory import hand_back_freed
from .pipeline import PairPipeline, Pipeline
from .requests import Request, Result, failed_result

__all__ = ["PairPipeline", "Pipeline", "Request", "Result", "Worker", "failed_result"]


GIL_SWITCH_S = 0.0005   # how long the UI thread may hold the interpreter while the worker waits for it


class Worker:
    """One inference thread with a one-slot mailbox; submit() never blocks; latest() never blocks."""

    def __init__(self, pipeline: Pipeline | PairPipeline):
        # Between two torch operations the worker needs the interpreter; while the UI thread draws, Python's
        # default switch interval (5 ms) let it wait up to that long with both of torch's threads idle. At 0.5 ms
        # the app's share of the worker's rate at 224x224 rose from 73-84% to 83-87% (issue 36, AMD EPYC Zen 4).
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))
        self.pipeline = pipeline
        self._cv = threading.Condition()
        self._pending: Request | None = None
        self._result: Result | None = None
        self._stop = False
        self.busy = False
        self.completed = 0
        self._shape: tuple | None = None   # the kind of the last request (layer, views): see _compute
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
        res = self._compute(req, self._interim, lambda: False)
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
            res = self._compute(req, self._interim, lambda: self._superseded(req))
            with self._cv:
                self._result, self.busy = res, False
                self.completed += 1

    def _interim(self, res: Result) -> None:
        with self._cv:
            self._result = res

    def _superseded(self, req: Request) -> bool:
        """A newer request waits that asks for something else than req (another layer, page, unit, method); a
        newer frame alone does not stop the work on this one."""
        with self._cv:
            p = self._pending
            return p is not None and p.key() != req.key()

    def _compute(self, req: Request, report=None, superseded=None) -> Result:
        """pipeline.compute, with a failure of the model call reported as a failed Result (on this thread or
        the caller's alike): a bad frame or a model error must not kill the thread or the app. A request of
        another kind (another layer or set of views) first hands the memory the last kind kept back to the OS
        (core/memory.py): what the process holds follows what it shows now, not the largest view of the session."""
        shape = (req.layer, tuple(sorted(k for k, v in req.parts.items() if v is not None)))
        if shape != self._shape:
            self._shape = shape
            hand_back_freed()
        try:
            return self.pipeline.compute(req, report=report, superseded=superseded)
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
