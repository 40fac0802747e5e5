"""Heartbeats on a real Redis: a worker is listed while it beats, gone at once when it stops
cleanly, gone within three beats when it is killed, and beating again after Redis comes back."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable

import pytest
from pydantic import SecretStr

from console.fleet import keys
from console.fleet.connection import connect
from console.fleet.registry import BEATS_TO_LIVE, Heartbeat, WorkerBeat, live_workers

EVERY_S = 0.2

# A worker's heartbeat alone, in a process of its own, so that the test can kill it -9.
BEATING = """
import asyncio, os, sys, time
from pydantic import SecretStr
from console.fleet.connection import connect
from console.fleet.registry import Heartbeat, WorkerBeat

async def beat_forever() -> None:
    me = lambda: WorkerBeat("doomed", "http://127.0.0.1:9", 0, 10, False, os.getpid(), time.time())
    heartbeat = Heartbeat(connect(SecretStr(sys.argv[1])), me, float(sys.argv[2]))
    await heartbeat.start()
    await asyncio.Event().wait()  # until killed

asyncio.run(beat_forever())
"""


def me(name: str = "w1", load: int = 2) -> Callable[[], WorkerBeat]:
    return lambda: WorkerBeat(name, "https://w1.example.test", load, 10, False, os.getpid(),
                              time.time())


@pytest.fixture
async def redis(redis_server):
    client = connect(SecretStr(redis_server.url))
    yield client
    await client.aclose()


async def names(redis) -> set[str]:
    return {beat.name for beat in await live_workers(redis)}


async def until_redis(condition: Callable[[], Awaitable[bool]], what: str,
                      within: float = 10.0) -> None:
    """Poll Redis, another process, until `condition` (an awaitable check) holds."""
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_worker_is_listed_while_it_beats_and_gone_when_it_stops(redis) -> None:
    heartbeat = Heartbeat(redis, me(), EVERY_S)
    await heartbeat.start()
    [beat] = await live_workers(redis)
    assert (beat.name, beat.url, beat.load, beat.capacity, beat.draining) == (
        "w1", "https://w1.example.test", 2, 10, False)
    ttl_ms = await redis.pttl(keys.worker("w1"))
    assert 0 < ttl_ms <= BEATS_TO_LIVE * EVERY_S * 1000  # three beats, not forever
    await heartbeat.next_beat()
    assert heartbeat.beats >= 2 and heartbeat.state()["redis"] == "ok"
    await heartbeat.stop()
    assert await names(redis) == set()  # a clean stop leaves routing at once


async def test_a_killed_worker_leaves_the_fleet_within_three_beats(redis_server, redis) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BEATING, redis_server.url, str(EVERY_S))
    try:
        await until_redis(lambda: _listed(redis, "doomed"), "the worker's first beat")
        process.send_signal(signal.SIGKILL)
        await process.wait()
        killed_at = time.monotonic()
        assert "doomed" in await names(redis)  # nobody deleted it: it expires
        await until_redis(lambda: _gone(redis, "doomed"), "the key to expire")
        assert time.monotonic() - killed_at <= BEATS_TO_LIVE * EVERY_S + 0.5  # polling slack
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _listed(redis, name: str) -> bool:
    return name in await names(redis)


async def _gone(redis, name: str) -> bool:
    return name not in await names(redis)


async def test_a_redis_outage_is_said_once_and_the_worker_beats_again_after_it(
        redis_server, redis, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="console.fleet.registry")
    heartbeat = Heartbeat(redis, me(), EVERY_S)
    await heartbeat.start()
    try:
        redis_server.stop()
        await _beats_until(heartbeat, lambda: heartbeat.outage_since is not None)
        for _ in range(3):  # it keeps trying, quietly
            await heartbeat.next_beat()
        assert str(heartbeat.state()["redis"]).startswith("unreachable since")
        redis_server.start()  # empty: nothing was saved
        await _beats_until(heartbeat, lambda: heartbeat.outage_since is None)
        assert await names(redis) == {"w1"}
        assert heartbeat.state()["redis"] == "ok"
    finally:
        await heartbeat.stop()
    said = [record.getMessage() for record in caplog.records]
    assert sum("Redis unreachable" in line for line in said) == 1
    assert sum("Redis is back" in line for line in said) == 1


async def _beats_until(heartbeat: Heartbeat, condition: Callable[[], bool],
                       within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await heartbeat.next_beat()
