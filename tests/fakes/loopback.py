"""What every loopback fake shares: an aiohttp server on 127.0.0.1 at a free port, a
change notification for event-driven waits, and a stop signal that wakes deliberate stalls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Self

from aiohttp import web


class LoopbackServer:
    name = "fake"
    # Cancel a handler when its client goes away, so a fake notices an aborted stream at once.
    handler_cancellation = True

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> Self:
        app = web.Application()
        self.add_routes(app)
        self._runner = web.AppRunner(
            app, handler_cancellation=self.handler_cancellation, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]
        return self

    async def before_stop(self) -> None:
        """Hook: e.g. close open WebSockets first."""

    async def stop(self) -> None:
        self._stopping.set()
        await self.before_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def wait_for(
        self,
        predicate: Callable[[], object],
        timeout: float = 2.0,  # noqa: ASYNC109 - a bounded wait is the point of this helper
    ) -> None:
        """Wait until `predicate()` is true; re-checked on every recorded change, no polling."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name}: condition not met within {timeout} s") from None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        """A deliberate stall (slow mode) that still ends at once when the fake stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
