"""Named, owned tasks. Every task a call starts is tracked here and cancelled when the call ends,
so nothing outlives its call or dies unnoticed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class TaskOwner:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, name: str, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=f"{self.owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def cancel_all(self, timeout_s: float = 2.0) -> None:
        """Cancel every task and wait up to `timeout_s` for them to finish their cleanup."""
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                log.warning("task %s ignored cancellation for %.1fs", task.get_name(), timeout_s)


async def cancel_and_wait(task: asyncio.Task[Any] | None, timeout_s: float = 1.0) -> None:
    """Cancel one task and wait (bounded) until it has really stopped."""
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait([task], timeout=timeout_s)
