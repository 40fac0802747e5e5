"""Test helpers for the fleet's consoles: settings, a test worker's publisher (the real one),
snapshots written by hand, waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from console import events as ev
from console.config import Settings, load_settings
from console.config.groups import FleetSettings
from console.fleet import keys, wire
from console.fleet.control import ControlConsumer
from console.fleet.publisher import FleetPublisher
from tests.integration.conftest import Watch
from tests.tui.fakes import RecordingControl

CLAIM_TTL_S = 1.5  # the shortest the settings allow is just over 1 s: claim tests stay quick


def fleet_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(_env_file=None, data_db=tmp_path / "calls.db", fleet_url=url,
                                  fleet_claim_ttl_s=CLAIM_TTL_S, fleet_heartbeat_s=0.2)
    return load_settings(**{**values, **overrides})


def client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url)


async def add_event(redis: aioredis.Redis, event: ev.CallEvent, worker: str) -> None:
    await redis.xadd(keys.EVENTS, wire.encode(event, worker))  # type: ignore[arg-type]


def snapshot_of(started: ev.CallStarted, worker: str) -> dict[str, str]:
    return {"worker": worker, "started_at": repr(started.at), "stream_sid": started.stream_sid,
            "from_number": started.from_number, "to_number": started.to_number,
            "profile": started.profile}


async def write_snapshot(redis: aioredis.Redis, started: ev.CallStarted, worker: str,
                         state: str = "") -> None:
    fields = snapshot_of(started, worker)
    if state:
        fields["state"] = state
    await redis.hset(keys.call(started.call_sid), mapping=fields)  # type: ignore[arg-type]
    await redis.sadd(keys.LIVE_CALLS, started.call_sid)


class WorkerPublisher:
    """The real publisher (console/fleet/publisher.py) of a test worker's bus, with its own
    Redis client: started at once, closed with the client."""

    def __init__(self, url: str, worker: str, bus: ev.EventBus) -> None:
        self._redis = client(url)
        self.worker = worker
        self._publisher = FleetPublisher(bus, self._redis, worker, FleetSettings())

    async def start(self) -> WorkerPublisher:
        await self._publisher.start()
        return self

    async def aclose(self) -> None:
        await self._publisher.stop()
        await self._redis.aclose()


Seen = Watch  # every event a console's or worker's bus publishes, waited on without sleeping


async def poll(predicate: Callable[[], Any], within: float, every: float = 0.05) -> float:
    """Wait for something another process (Redis, its key TTLs) decides; returns the seconds
    it took. Polled with a deadline: there is no event to wait on."""
    start = time.monotonic()
    while True:
        if await predicate():
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(every)


class WorkerControl(RecordingControl):
    """RecordingControl with acknowledge, as every worker's CallControl has (the TUI's fake
    leaves it out: its console then acknowledges no alert on its own)."""

    async def acknowledge(self, call_sid: str, actor: str, how: str = "") -> None:
        await self._record("acknowledge", call_sid, actor, how)


class FakeWorker:
    """A media worker with no calls of its own: what its bus publishes goes to the fleet (the
    test publisher), and its control stream is served by the real ControlConsumer on a
    WorkerControl (RecordingControl, tests/tui/fakes.py), which records each action as
    OperatorActed."""

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.redis = client(url)
        self.bus = ev.EventBus()
        self.control = WorkerControl(self.bus)
        self.consumer = ControlConsumer(self.redis, name, self.control, self.bus)
        self.publisher = WorkerPublisher(url, name, self.bus)

    async def start(self) -> FakeWorker:
        await self.publisher.start()
        await self.consumer.start()
        return self

    def call(self, call_sid: str) -> ev.CallStarted:
        started = ev.CallStarted(call_sid, stream_sid="MZ" + call_sid[2:],
                                 from_number="+15550001111", profile="default")
        self.bus.publish(started)
        return started

    async def aclose(self) -> None:
        await self.consumer.stop()
        await self.publisher.aclose()
        await self.redis.aclose()
