"""The runtime's memory pass frees what closed sockets leave behind (console/memory.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from console.memory import trim_periodically


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
