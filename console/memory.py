"""Hand memory the process has freed back to the system, now and then.

A call's life allocates and frees many buffers (audio frames, JSON messages, socket buffers).
glibc keeps freed heap memory for reuse, and can only shrink the heap from its top, so after a
burst (a flood of short calls, hundreds of sockets held open: bench/hostile_load.py) the
server's RSS stayed at its high-water mark although Python held none of it (tracemalloc: +0.4
MB while RSS grew 41 MB). `malloc_trim(0)` releases the free pages anywhere in the heap: in that
probe it gave back 22 MB. It takes 5-45 ms, so it runs in a worker thread every 30 s, not per call.

Most of what was left was not freed at all: a socket closed under aiohttp leaves its request,
headers, reader and the exception that closed it in reference cycles (exception -> traceback ->
frame -> exception), which only the garbage collector's oldest generation frees. That
generation is collected when it has grown by a quarter since the last full pass, and start-up
alone puts ~95,000 objects in it (Textual, aiohttp, the SDKs): after 20,000 refused sockets
47,000 such objects (18 MB of pages) were still waiting. So, once start-up is done, the heap it
built is frozen (`gc.freeze`: never scanned again, never freed; it lives as long as the process
anyway). A full pass then scans only what calls made: 60 ms became 0.01 ms on this machine, the
oldest generation is collected as often as it should be, and the periodic trim starts with a
full pass of its own, so the pages it returns are the garbage's too.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
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


def freeze_start_up_heap() -> int:
    """Collect once, then freeze everything start-up built, so no later collection scans it.
    Call it once, after models are warm and before the first call. Returns the objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def collect_garbage() -> int:
    """A full collection, on the loop (finalizers must not run on another thread). With the
    start-up heap frozen it scans only calls' objects: well under a millisecond when idle."""
    started = time.perf_counter()
    collected = gc.collect()
    log.debug("gc: %d objects freed in %.1f ms", collected, (time.perf_counter() - started) * 1e3)
    return collected


async def trim_periodically(every_s: float = TRIM_EVERY_S) -> None:
    """Until cancelled: every `every_s`, free cyclic garbage and give freed heap pages back (the
    pages only if this libc can)."""
    trim = malloc_trim()
    if trim is None:
        log.debug("no malloc_trim here: freed memory stays with the process")
    while True:
        await asyncio.sleep(every_s)
        collect_garbage()
        if trim is not None:
            await asyncio.to_thread(trim)  # ctypes lets go of the GIL: the loop runs on


class ChurnCollector:
    """Frees what closed sockets leave behind soon after they close, not at the next pass.

    Each closed socket leaves its request, reader and the exception that closed it in reference
    cycles (~20 kB; see the module docstring), which only a full collection frees. Under a
    socket flood (bench/hostile_load.py: ~100 refused sockets a second) the interpreter's own
    full passes came every several seconds, so ~700 dead sockets (~14 MB) waited at once, beside
    the ~220 live ones: CPython's allocator grew by 19 arenas of 1 MiB for them, and an arena is
    given back only when every object in it is gone, which after a burst is never. Collecting
    after every `every` closes keeps the dead few. With the start-up heap frozen a full pass scans
    only calls' objects (a few ms at 100 calls); `min_gap_s` bounds it to twice a second."""

    def __init__(self, every: int = 50, min_gap_s: float = 0.5,
                 collect: Callable[[], int] = collect_garbage,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.min_gap_s = every, min_gap_s
        self._collect, self._clock = collect, clock
        self._closed = 0
        self._last = float("-inf")
        self._due: asyncio.TimerHandle | None = None

    def closed(self) -> None:
        """One socket closed (call it on the event loop)."""
        self._closed += 1
        if self._closed < self.every or self._due is not None:
            return
        wait = max(0.0, self._last + self.min_gap_s - self._clock())
        self._due = asyncio.get_running_loop().call_later(wait, self._run)

    def _run(self) -> None:
        self._due = None
        self._closed = 0
        self._last = self._clock()
        self._collect()

    @property
    def scheduled(self) -> asyncio.TimerHandle | None:
        """The collection waiting for its gap, if one is."""
        return self._due

    def cancel(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
