"""The admin endpoint's event feed (issue 15, drills) over real sockets: a bus, the endpoint,
and an aiohttp client reading the NDJSON stream as `voiceconsole drill` does."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from console import events as ev
from console.admin.server import AdminServer

pytestmark = pytest.mark.timeout(20)

TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def read_line(reply: aiohttp.ClientResponse) -> dict:
    async with asyncio.timeout(5):
        return json.loads(await reply.content.readline())


async def test_a_feed_sends_only_the_named_calls_events_from_the_moment_it_opens():
    bus = ev.EventBus()
    server = AdminServer(object(), TOKEN, events=bus.subscribe,
                         info=lambda: {"media_url": "ws://127.0.0.1:1/media"})
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/events", params={"call": "CAmine"},
                                headers=AUTH) as reply:
                assert reply.status == 200
                assert await read_line(reply) == {"kind": "FeedOpened", "calls": ["CAmine"]}
                bus.publish(ev.OperatorActed("CAother", action="take-over", actor="bob"))
                bus.publish(ev.OperatorActed("CAmine", action="acknowledge", actor="alice",
                                             detail="alert", at=12.5))
                line = await read_line(reply)
                assert line == {"kind": "OperatorActed", "call_sid": "CAmine", "at": 12.5,
                                "action": "acknowledge", "actor": "alice", "detail": "alert",
                                "request": ""}  # no fleet console asked it
                await server.stop()  # ends the feed, rather than waiting on it
                async with asyncio.timeout(5):
                    assert await reply.content.read() == b""
    finally:
        await server.stop()


async def test_a_feed_must_name_its_calls_and_carry_the_token():
    server = AdminServer(object(), TOKEN, events=ev.EventBus().subscribe)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/events", headers=AUTH) as reply:
                assert reply.status == 400  # the line's calls are not a drill's to read
            async with http.get(server.url + "/events", params={"call": "CA1"},
                                headers={"Authorization": "Bearer wrong"}) as reply:
                assert reply.status == 401
            async with http.get(server.url + "/info", headers=AUTH) as reply:
                assert reply.status == 404  # no media server told to this endpoint
    finally:
        await server.stop()
