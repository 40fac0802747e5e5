"""What a person runs against the fleet from a shell: `voiceconsole fleet status`, `serve
--drain NAME`, and `doctor`'s Redis check. Each tries Redis once and says plainly when it cannot
be reached, instead of retrying in silence (a person is waiting)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from console.fleet import keys
from console.fleet.registry import REDIS_TROUBLE, WorkerBeat, live_workers, request_drain

T = TypeVar("T")
ANSWER_S = 3.0  # Redis on a LAN answers in a millisecond; three seconds of nothing is an outage


class Unreachable(Exception):
    """The fleet's Redis could not be reached; the message says where and why."""


@dataclass(frozen=True)
class FleetReport:
    where: str  # host:port/db, never the password
    version: str
    workers: list[WorkerBeat]
    at: float  # wall clock of the reading


def where(url: SecretStr) -> str:
    """Where the fleet's Redis is, fit to print: a URL may carry a password."""
    parts = urlsplit(url.get_secret_value())
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname or '?'}{port}{parts.path}"


def _once(url: SecretStr) -> aioredis.Redis:
    return aioredis.Redis.from_url(url.get_secret_value(), retry=Retry(NoBackoff(), 0),
                                   socket_connect_timeout=ANSWER_S, socket_timeout=ANSWER_S)


async def read_fleet(url: SecretStr) -> FleetReport:
    """Every live worker as its heartbeat says. Raises Unreachable."""
    redis = _once(url)
    try:
        async with asyncio.timeout(ANSWER_S):
            info = await redis.info("server")
            workers = await live_workers(redis)
    except REDIS_TROUBLE as error:
        raise Unreachable(_unreachable(url, error)) from error
    finally:
        await redis.aclose()
    return FleetReport(where(url), str(info.get("redis_version", "?")), workers, time.time())


def _unreachable(url: SecretStr, error: BaseException) -> str:
    why = str(error) or f"no answer within {ANSWER_S:g} s"
    return f"cannot reach the fleet's Redis at {where(url)}: {why}"


def status_lines(report: FleetReport) -> list[str]:
    """`fleet status` for a person: one line for the fleet, one per worker."""
    calls = sum(w.load for w in report.workers)
    free = sum(max(0, w.capacity - w.load) for w in report.workers if not w.draining)
    lines = [f"fleet at {report.where} (redis {report.version}): {len(report.workers)} "
             f"worker(s), {calls} call(s), {free} line(s) free"]
    if not report.workers:
        return [*lines, "  no worker is beating"]
    lines.append(f"  {'worker':<24} {'calls':>5} {'capacity':>8}  {'draining':<8} "
                 f"{'beat age':>8}  url")
    for w in report.workers:
        age = max(0.0, report.at - w.beat_at)
        lines.append(f"  {w.name:<24} {w.load:>5} {w.capacity:>8}  "
                     f"{'yes' if w.draining else 'no':<8} {age:>6.1f} s  {w.url}")
    return lines


def status_json(report: FleetReport) -> dict[str, Any]:
    return {"redis": report.where, "version": report.version,
            "workers": [asdict(w) | {"beat_age_s": round(max(0.0, report.at - w.beat_at), 3)}
                        for w in report.workers]}


async def check(url: SecretStr) -> str:
    """`doctor`'s line for the fleet's Redis."""
    try:
        report = await read_fleet(url)
    except Unreachable as error:
        return f"UNREACHABLE: {error}"
    return (f"ready: redis {report.version} at {report.where}, "
            f"{len(report.workers)} worker(s) beating")


async def drain(url: SecretStr, name: str, every_s: float,
                progress: Callable[[WorkerBeat], None]) -> str | None:
    """Ask worker `name` to drain and wait until it has left the fleet, telling `progress`
    each beat whose load changed; None once it has left, else why it cannot be drained.
    Raises Unreachable."""
    redis = _once(url)
    try:
        beat = await _beat_of(redis, url, name)
        if beat is None:
            return f"no worker named {name} is beating (see `voiceconsole fleet status`)"
        await _answered(url, request_drain(redis, name))
        shown = -1
        while beat is not None:
            if beat.load != shown:
                progress(beat)
                shown = beat.load
            await asyncio.sleep(every_s)  # another process's key: polled, at its own pace
            beat = await _beat_of(redis, url, name)
        return None
    finally:
        await redis.aclose()


async def _beat_of(redis: aioredis.Redis, url: SecretStr, name: str) -> WorkerBeat | None:
    value = await _answered(url, redis.get(keys.worker(name)))
    return WorkerBeat.from_json(value) if value else None


async def _answered(url: SecretStr, request: Awaitable[T]) -> T:
    try:
        async with asyncio.timeout(ANSWER_S):
            return await request
    except REDIS_TROUBLE as error:
        raise Unreachable(_unreachable(url, error)) from error
