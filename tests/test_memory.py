"""What a long session holds: freed memory is handed back when the user moves to another kind of view."""
import sys

import pytest
from helpers import key

import viewer.worker as worker_module
from viewer.core import memory


def test_the_worker_hands_memory_back_when_the_kind_of_request_changes(app, monkeypatch):
    calls = []
    monkeypatch.setattr(worker_module, "hand_back_freed", lambda: calls.append(1) or True)
    for _ in range(3):                      # new frames, same layer and views: nothing handed back
        app.update()
    assert calls == []
    key(app, "w")                           # another set of views (W): once
    app.update()
    app.update()
    assert len(calls) == 1
    key(app, "left")                        # another layer: once more
    app.update()
    assert len(calls) == 2
    key(app, "w")
    app.update()
    assert len(calls) == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_hand_back_runs_where_glibc_is_tuned():
    if not memory.keep_freed_memory():
        pytest.skip("not glibc")
    assert memory.hand_back_freed()
