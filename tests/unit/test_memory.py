"""The runtime's memory pass frees what closed sockets leave behind (console/memory.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from console.memory import ChurnCollector, trim_periodically


class _ClosedSocket:
    """What aiohttp leaves when a socket closes under it: the exception that closed it, whose
    traceback's frame holds the socket, which holds the exception (a cycle refcounts never free)."""

    def __init__(self) -> None:
        try:
            raise ConnectionResetError("Cannot write to closing transport")
        except ConnectionResetError as error:
            self.error = error  # error -> traceback -> this frame -> self -> error


async def test_the_periodic_memory_pass_frees_sockets_left_in_reference_cycles() -> None:
    gc.disable()  # only the pass may free them, as on a server whose oldest generation is big
    try:
        left = _ClosedSocket()
        freed = asyncio.Event()
        weakref.finalize(left, freed.set)
        del left
        assert not freed.is_set(), "the cycle keeps it alive until a collection"
        passes = asyncio.create_task(trim_periodically(every_s=0.02), name="memory-trim")
        try:
            await asyncio.wait_for(freed.wait(), timeout=5.0)
        finally:
            passes.cancel()
    finally:
        gc.enable()


class _Collections:
    def __init__(self) -> None:
        self.count = 0
        self.ran = asyncio.Event()

    def __call__(self) -> int:
        self.count += 1
        self.ran.set()
        return 0


async def test_a_burst_of_closed_sockets_is_collected_at_once_not_at_the_next_pass() -> None:
    collections = _Collections()
    churn = ChurnCollector(every=50, min_gap_s=60.0, collect=collections)
    for _ in range(49):
        churn.closed()
    await asyncio.sleep(0)  # a scheduled collection would be due now (no gap yet)
    assert collections.count == 0, "49 closes are not a burst"
    churn.closed()
    await asyncio.wait_for(collections.ran.wait(), timeout=1.0)
    assert collections.count == 1


async def test_collections_after_bursts_are_spaced_by_the_minimum_gap() -> None:
    now = [100.0]
    collections = _Collections()
    churn = ChurnCollector(every=2, min_gap_s=30.0, collect=collections, clock=lambda: now[0])
    churn.closed(), churn.closed()
    await asyncio.wait_for(collections.ran.wait(), timeout=1.0)
    collections.ran.clear()
    churn.closed(), churn.closed()  # a second burst at once: due only 30 s after the first
    due = churn.scheduled
    assert due is not None and due.when() - asyncio.get_running_loop().time() > 29.0
    assert collections.count == 1, "a second full pass inside the gap"
    churn.cancel()
