"""The admin endpoint's event feed (issue 15, drills): what happens on named calls, as it happens.

    GET /info                 -> {"media_url": "ws://127.0.0.1:8765/media", "signed_media_url": ...}
    GET /events?call=SID[&call=SID...]
        -> 200, application/x-ndjson: first {"kind": "FeedOpened", "calls": [...]}, then one line
           per event of those calls: {"kind", "call_sid", "at", ...the event's fields}

`voiceconsole drill` opens the feed for the calls it is about to place (its first line says the
subscription is live, so nothing is missed), then scores the operator from it. Only calls the
client names are sent: a drill follows its own calls, never the line's. The feed is as private as
the rest of the admin endpoint (loopback, bearer token), and the text in it is raw, as on the
console's live transcript.

A reader that falls `QUEUE_LIMIT` events behind is cut off (its feed ends) rather than let the
queue grow: a slow reader never costs a call memory or time. The bus subscriber only queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from console.events import CallEvent

log = logging.getLogger(__name__)

Subscribe = Callable[[Callable[[CallEvent], None]], Callable[[], None]]
QUEUE_LIMIT = 2000  # a drill call makes a few hundred events; this many unread is a stuck reader
MAX_CALLS = 50  # calls one feed may name
KEEPALIVE_S = 10.0


class EventFeeds:
    """The /events and /info routes over the event bus's `subscribe`; `close()` ends every feed."""

    def __init__(self, subscribe: Subscribe | None,
                 info: Callable[[], dict[str, Any]] | None) -> None:
        self._subscribe = subscribe
        self._info = info
        self._open: set[asyncio.Queue[bytes | None]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.add_routes([web.get("/events", self.events), web.get("/info", self.info)])

    async def info(self, request: web.Request) -> web.Response:
        if self._info is None:
            return web.json_response({"error": "no media server here"}, status=404)
        return web.json_response(self._info())

    async def events(self, request: web.Request) -> web.StreamResponse:
        calls = frozenset(request.query.getall("call", []))
        if self._subscribe is None:
            return web.json_response({"error": "no event feed here"}, status=404)
        if not calls or len(calls) > MAX_CALLS:
            return web.json_response(
                {"error": f"name the calls to follow: ?call=SID (1 to {MAX_CALLS})"}, status=400)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_LIMIT)
        unsubscribe = self._subscribe(_queuer(calls, queue))
        self._open.add(queue)
        try:
            return await _stream(request, calls, queue)
        finally:
            unsubscribe()
            self._open.discard(queue)

    def close(self) -> None:
        for queue in list(self._open):
            _end(queue)


async def _stream(request: web.Request, calls: frozenset[str],
                  queue: asyncio.Queue[bytes | None]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    opened = {"kind": "FeedOpened", "calls": sorted(calls)}
    with contextlib.suppress(ConnectionError):
        await response.write(json.dumps(opened).encode() + b"\n")
        while (line := await _next_line(queue)) is not None:
            await response.write(line)
    return response


async def _next_line(queue: asyncio.Queue[bytes | None]) -> bytes | None:
    """The next event's line, or a blank line after `KEEPALIVE_S` of quiet: writing it is how a
    reader that went away is noticed (aiohttp does not cancel a handler when its client leaves)."""
    try:
        async with asyncio.timeout(KEEPALIVE_S):
            return await queue.get()
    except TimeoutError:
        return b"\n"


def _queuer(calls: frozenset[str], queue: asyncio.Queue[bytes | None]
            ) -> Callable[[CallEvent], None]:
    def seen(event: CallEvent) -> None:
        if event.call_sid not in calls:
            return
        try:
            queue.put_nowait(event_line(event))
        except asyncio.QueueFull:
            log.warning("an admin event feed fell %d events behind; cut off", QUEUE_LIMIT)
            _end(queue)

    return seen


def _end(queue: asyncio.Queue[bytes | None]) -> None:
    """Make the feed's next read its last: drop what is unread, then the end marker."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)


def event_line(event: CallEvent) -> bytes:
    """One event as a JSON line; default=str: an odd field never stops the feed."""
    body = {"kind": event.kind, "call_sid": event.call_sid, "at": event.at, **event.payload()}
    return json.dumps(body, default=str, ensure_ascii=False).encode() + b"\n"
