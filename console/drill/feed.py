"""The drill's side of the admin endpoint (console/admin/feed.py): where to dial, and
the events of the drill's own calls as they happen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0
MAX_LINE = 1 << 20  # an event line; a turn's text is far shorter
STREAMING = aiohttp.ClientTimeout(total=None, sock_connect=OPEN_TIMEOUT_S)  # a call has no end


class DrillError(RuntimeError):
    """The drill cannot go on (no console running, a refused token, no call placed)."""


@dataclass(frozen=True)
class Admin:
    """The running console's admin endpoint (from its admin file, as `voiceconsole control`)."""

    url: str
    token: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


async def media_info(http: aiohttp.ClientSession, admin: Admin) -> dict[str, str]:
    """Where a simulated caller dials, and the URL it signs (admin /info)."""
    try:
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            async with http.get(admin.url + "/info", headers=admin.headers()) as reply:
                _check(reply.status, admin)
                info: dict[str, str] = await reply.json()  # {"media_url", "signed_media_url"}
                return info
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise DrillError(f"voiceconsole is not running (no admin endpoint at {admin.url}: "
                         f"{type(error).__name__})") from None


def _check(status: int, admin: Admin) -> None:
    if status == 401:
        raise DrillError("the admin endpoint refused the token (give --token or set "
                         "VOICECONSOLE_SERVER_ADMIN_TOKEN)")
    if status == 404:
        raise DrillError(f"{admin.url} has no drill support (an older voiceconsole?)")
    if status != 200:
        raise DrillError(f"the admin endpoint answered {status}")


class EventFeed:
    """One call's events, as the admin endpoint streams them: `events` fills as they come and
    `changed` is set on each. `await open()` returns once the server is subscribed."""

    def __init__(self, http: aiohttp.ClientSession, admin: Admin, call_sid: str) -> None:
        self._http, self._admin, self.call_sid = http, admin, call_sid
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()
        self._reply: aiohttp.ClientResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                self._reply = await self._http.get(
                    self._admin.url + "/events", params={"call": self.call_sid},
                    headers=self._admin.headers(), timeout=STREAMING)
                _check(self._reply.status, self._admin)
                await self._reply.content.readline()  # FeedOpened: the server is subscribed
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            await self.close()
            raise DrillError(f"could not follow the call's events: {error!r}") from None
        except DrillError:
            await self.close()
            raise
        self._reader = asyncio.create_task(self._read(self._reply),
                                           name=f"drill-feed-{self.call_sid}")

    async def _read(self, reply: aiohttp.ClientResponse) -> None:
        try:
            while line := await reply.content.readline():
                self._take(line)
        except (aiohttp.ClientError, OSError, ValueError) as error:
            log.warning("the event feed of %s broke: %r", self.call_sid, error)
        finally:
            self.closed.set()
            self.changed.set()

    def _take(self, line: bytes) -> None:
        if not line.strip() or len(line) > MAX_LINE:
            return  # a keep-alive
        event = json.loads(line)
        if isinstance(event, dict) and isinstance(event.get("at"), int | float):
            self.events.append(event)
            self.changed.set()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("kind") == kind]

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._reply is not None:
            self._reply.close()
