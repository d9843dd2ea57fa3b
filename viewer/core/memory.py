"""Keep freed memory in the process instead of handing it back to the OS after every frame (glibc only).

A frame's analysis allocates and frees tensors of tens of megabytes (a whole-layer reconstruction of
All-CNN-C's conv6 makes ~47 MB of them per result). glibc serves such sizes with fresh mmap'ed pages and
returns them on free, so every result pays for the kernel zero-filling ~12,000 new pages: measured on a
2-core AMD EPYC (AVX2), 194 ms for the 192 conv6 units, 164 ms with the memory kept. PyTorch's CPU
allocator does not cache, so we ask glibc to: large blocks come from the heap, and the heap is not trimmed
below what the process needed. The resident size then stays at the peak of one frame's working set.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3   # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20     # blocks up to 32 MiB from the heap (glibc's largest allowed value)
TRIM_THRESHOLD = 1 << 30      # return heap memory to the OS only above 1 GiB of free space at the top

_done: list[bool] = []


def keep_freed_memory() -> bool:
    """Tune glibc's malloc once per process; True where it was applied (Linux with glibc)."""
    if _done:
        return _done[0]
    ok = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            ok = all(libc.mallopt(p, v) == 1 for p, v in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                                                          (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                                                          (M_TOP_PAD, 64 << 20)))
        except (OSError, AttributeError):  # not glibc (musl has no mallopt)
            ok = False
    _done.append(ok)
    return ok
