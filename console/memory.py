"""Hand memory the process has freed back to the system, now and then.

A call's life allocates and frees many buffers (audio frames, JSON messages, socket buffers).
glibc keeps freed heap memory for reuse, and can only shrink the heap from its top, so after a
burst (a flood of short calls, hundreds of sockets held open: bench/hostile_load.py) the
server's RSS stayed at its high-water mark although Python held none of it (tracemalloc: +0.4
MB while RSS grew 41 MB). `malloc_trim(0)` releases the free pages anywhere in the heap: in that
probe it gave back 22 MB. It takes 5-45 ms, so it runs in a worker thread every 30 s, not per call.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from functools import cache

log = logging.getLogger(__name__)

TRIM_EVERY_S = 30.0


@cache
def malloc_trim() -> Callable[[], int] | None:
    """glibc's malloc_trim(0), or None where there is none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim = getattr(libc, "malloc_trim", None)
    except OSError:
        return None
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


async def trim_periodically(every_s: float = TRIM_EVERY_S) -> None:
    """Until cancelled: every `every_s`, give freed heap pages back (if this libc can)."""
    trim = malloc_trim()
    if trim is None:
        log.debug("no malloc_trim here: freed memory stays with the process")
        return
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(trim)  # ctypes lets go of the GIL: the loop runs on meanwhile
