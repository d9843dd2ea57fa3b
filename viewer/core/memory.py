"""Keep freed memory in the process instead of handing it back to the OS after every frame (glibc only).

A frame's analysis allocates and frees tensors of tens of megabytes (a whole-layer reconstruction of
All-CNN-C's conv6 makes ~47 MB of them per result). glibc serves such sizes with fresh mmap'ed pages and
returns them on free, so every result pays for the kernel zero-filling ~12,000 new pages: measured on a
2-core AMD EPYC (AVX2), 194 ms for the 192 conv6 units, 164 ms with the memory kept. PyTorch's CPU
allocator does not cache, so we ask glibc to: large blocks come from the heap, and up to 128 MiB of free heap
is kept. The resident size then stays at the peak of one frame's working set.

What one kind of analysis kept is handed back when the user moves to another (hand_back_freed, called by the
worker when a request asks for another layer or another set of views): a long session that visits every mode
does not keep the largest working set it ever saw (python -m viewer.bench soak).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3   # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20     # blocks up to 32 MiB from the heap (glibc's largest allowed value)
TRIM_THRESHOLD = 128 << 20    # return heap memory to the OS above 128 MiB of free space at the top

_done: list[bool] = []


@functools.lru_cache(maxsize=1)
def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def keep_freed_memory() -> bool:
    """Tune glibc's malloc once per process; True where it was applied (Linux with glibc)."""
    if _done:
        return _done[0]
    ok = False
    if sys.platform.startswith("linux"):
        try:
            libc = _libc()
            ok = all(libc.mallopt(p, v) == 1 for p, v in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                                                          (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                                                          (M_TOP_PAD, 16 << 20)))
        except (OSError, AttributeError):  # not glibc (musl has no mallopt)
            ok = False
    _done.append(ok)
    return ok


def hand_back_freed() -> bool:
    """Return the heap's free pages to the OS now (glibc's malloc_trim); True where it ran. A few ms."""
    if not _done or not _done[0]:
        return False
    try:
        _libc().malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True
