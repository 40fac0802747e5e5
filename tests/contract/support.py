"""What the three contract suites share: an observer that records, and the check that stopping a
provider leaves nothing of it running."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

TASK_GRACE_S = 2.0  # a provider's teardown is bounded by ~1 s (TASK_STOP_S, CLOSE_TIMEOUT_S)


@dataclass
class RecordingObserver:
    """A ProviderObserver that keeps what it was told."""

    degradations: list[tuple[str, str, str]] = field(default_factory=list)
    usages: list[dict[str, float]] = field(default_factory=list)

    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        self.degradations.append((provider, problem, fallback))

    def usage(
        self, *, llm_tokens: int = 0, tts_characters: int = 0, stt_seconds: float = 0.0
    ) -> None:
        self.usages.append(
            {"llm_tokens": llm_tokens, "tts_characters": tts_characters, "stt_seconds": stt_seconds}
        )


def _serves_a_fake(task: asyncio.Task[Any]) -> bool:
    """The loopback fakes' own server tasks (aiohttp handlers, a fake's producers): they belong
    to the other end of the wire, which may keep a pooled connection open for a while."""
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    return "aiohttp/web_" in filename or "/tests/fakes/" in filename


@asynccontextmanager
async def nothing_left_running() -> AsyncIterator[list[dict[str, Any]]]:
    """Every task started inside the block (by the provider, its SDK or its socket library)
    must have finished within TASK_GRACE_S of its end, and none may have died with an exception
    that nobody retrieved (asyncio reports those to the loop's exception handler, which the
    block records and yields)."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    before = asyncio.all_tasks()
    try:
        yield reported
        left = {t for t in asyncio.all_tasks() - before if not _serves_a_fake(t)}
        left.discard(asyncio.current_task())
        if left:
            _, pending = await asyncio.wait(left, timeout=TASK_GRACE_S)
            assert not pending, f"left running: {sorted(t.get_name() for t in pending)}"
        gc.collect()  # a task that died unretrieved is reported when it is collected
        assert not reported, f"unhandled in the loop: {[c.get('message') for c in reported]}"
    finally:
        loop.set_exception_handler(previous)


async def cancel_after(
    first: asyncio.Event, work: Coroutine[Any, Any, None], timeout_s: float = 10.0
) -> asyncio.Task[None]:
    """Run `work` as a task, cancel it once `first` is set, and return it once it ended (or
    after a second: the caller asserts it did)."""
    task = asyncio.create_task(work, name="contract-consumer")
    waiter = asyncio.create_task(first.wait(), name="contract-first")
    await asyncio.wait({task, waiter}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert first.is_set(), "the provider produced nothing to cancel after"
    task.cancel()
    await asyncio.wait({task}, timeout=1.0)
    return task


@asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """`contextlib.aclosing` for a contract's stream (typed as an AsyncIterator, an async
    generator underneath): closed on the way out, as the call closes one it abandons."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
