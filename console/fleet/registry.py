"""Workers' heartbeats: who is in the fleet, where Twilio reaches each, and how full it is.

A worker's key (keys.worker) holds a JSON `WorkerBeat` and lives three heartbeats: renewed every
`fleet.heartbeat_s`, so a worker that dies (kill -9, a lost machine, a cut cable) leaves routing
within three beats with nobody cleaning up after it, and one that stops cleanly deletes it.

Redis is shared, not vital. A beat that fails is logged once (and once more when Redis is back),
the outage shows in the worker's /health, and its calls go on: nothing on a call's path waits on
Redis. The heartbeat keeps its pace through the outage and resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from console.fleet import keys

log = logging.getLogger(__name__)

BEATS_TO_LIVE = 3  # a worker that missed three beats in a row is gone
# What a Redis in trouble raises: refused or reset connections, and no answer in time.
REDIS_TROUBLE = (RedisError, OSError, TimeoutError)
LEAVE_WITHIN_S = 1.0  # a clean stop deletes its key; a Redis that does not answer lets it expire


@dataclass(frozen=True)
class WorkerBeat:
    """What a worker says of itself at each beat."""

    name: str
    url: str  # its public https base, or its local http one when it has none
    load: int  # live calls
    capacity: int
    draining: bool
    pid: int
    beat_at: float  # wall clock (time.time()): other machines read it

    @property
    def takes_calls(self) -> bool:
        return not self.draining and self.load < self.capacity

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: bytes | str) -> WorkerBeat | None:
        """The beat a key holds, or None for one we cannot read (a newer worker's, damaged)."""
        try:
            data = json.loads(text)
            beat = cls(name=str(data["name"]), url=str(data["url"]), load=int(data["load"]),
                       capacity=int(data["capacity"]), draining=bool(data["draining"]),
                       pid=int(data["pid"]), beat_at=float(data["beat_at"]))
        except (ValueError, KeyError, TypeError):
            return None
        return beat if beat.capacity >= 1 and beat.load >= 0 else None


@dataclass(frozen=True)
class FleetView:
    """What one beat saw: whether this worker was asked to drain, and every live worker."""

    drain_requested: bool
    workers: tuple[WorkerBeat, ...]
    seen_at: float  # time.monotonic() of the beat


async def beat(redis: aioredis.Redis, me: WorkerBeat, ttl_s: float) -> bool:
    """Renew `me` for `ttl_s`; True when a drain was requested for it. One round trip."""
    pipe = redis.pipeline(transaction=False)
    pipe.set(keys.worker(me.name), me.to_json(), px=max(1, int(ttl_s * 1000)))
    pipe.exists(keys.drain(me.name))
    _, drain = await pipe.execute()
    return bool(drain)


async def live_workers(redis: aioredis.Redis) -> list[WorkerBeat]:
    """Every worker whose heartbeat has not expired, by name."""
    names = [key async for key in redis.scan_iter(match=keys.WORKER_PATTERN, count=1000)]
    if not names:
        return []
    found = (WorkerBeat.from_json(value) for value in await redis.mget(names) if value)
    return sorted((beat for beat in found if beat is not None), key=lambda beat: beat.name)


async def request_drain(redis: aioredis.Redis, name: str) -> None:
    """Ask worker `name` to drain: it reads this at its next beat."""
    await redis.set(keys.drain(name), "1")


async def leave(redis: aioredis.Redis, name: str) -> None:
    """A clean stop: out of routing now, and a drain request spent (its successor, under the
    same name, must not drain)."""
    await redis.delete(keys.worker(name), keys.drain(name))


class Heartbeat:
    """Beats for one worker every `every_s` until stopped, keeping what the last beat saw.

    `describe` says what the worker is now (load, draining) at each beat; `after_beat` runs after
    every beat, reached or not (a draining worker's calls may end during an outage too)."""

    def __init__(self, redis: aioredis.Redis, describe: Callable[[], WorkerBeat],
                 every_s: float, after_beat: Callable[[], None] = lambda: None) -> None:
        self._redis = redis
        self._describe = describe
        self.every_s = every_s
        self.ttl_s = every_s * BEATS_TO_LIVE
        self._after_beat = after_beat
        self.view: FleetView | None = None
        self.beats = 0
        self.outage_since: float | None = None  # wall clock, while Redis is unreachable
        self.outage_reason = ""
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._beaten = asyncio.Event()  # set after each beat; whoever waits clears it first

    async def start(self) -> None:
        """The first beat now (start-up reports the fleet it found, or the outage; neither
        stops it), then one every `every_s`. A drain request left under this name by a worker
        that died draining was for that one, not this one: it goes first."""
        await self._leave_quietly()
        await self.tick()
        self._task = asyncio.create_task(self._run(), name="fleet-heartbeat")

    async def stop(self) -> None:
        # The flag as well as the cancel: a cancel that lands as a Redis reply completes can be
        # lost in the client (Python 3.11's wait_for), and the beats would go on forever.
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._leave_quietly()

    async def _leave_quietly(self) -> None:
        with contextlib.suppress(*REDIS_TROUBLE):  # the key expires anyway; said by the beats
            async with asyncio.timeout(LEAVE_WITHIN_S):
                await leave(self._redis, self._describe().name)

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.every_s)
            if self._stopping:
                return
            try:
                await self.tick()
            except Exception:  # a bug in one beat must not end them all: the worker would
                log.exception("fleet: a heartbeat failed; beating on")  # vanish from routing

    async def tick(self) -> None:
        """One beat. It must answer within a heartbeat: the next one is due, and a key renewed
        at most two heartbeats apart never expires while its worker lives."""
        me = self._describe()
        try:
            async with asyncio.timeout(self.every_s):
                drain = await beat(self._redis, me, self.ttl_s)
                workers = await live_workers(self._redis)
        except REDIS_TROUBLE as error:
            self._lost(error)
        else:
            self._reached(FleetView(drain, tuple(workers), time.monotonic()))
        self._after_beat()
        self._beaten.set()

    async def next_beat(self) -> None:
        """Until the next beat is over, reached or not (for whoever shows the fleet)."""
        self._beaten.clear()
        await self._beaten.wait()

    def fresh_view(self) -> FleetView | None:
        """The last beat's view while it is younger than a heartbeat's life (in an outage the
        other workers it lists may have died since)."""
        view = self.view
        if view is None or time.monotonic() - view.seen_at > self.ttl_s:
            return None
        return view

    def _lost(self, error: BaseException) -> None:
        if self.outage_since is None:
            self.outage_since = time.time()
            self.outage_reason = _reason(error, self.every_s)
            log.warning("fleet: Redis unreachable (%s): live calls go on, and new calls stay on "
                        "this worker until it is back", self.outage_reason)

    def _reached(self, view: FleetView) -> None:
        if self.outage_since is not None:
            log.warning("fleet: Redis is back after %.1f s; beating again",
                        time.time() - self.outage_since)
            self.outage_since = None
        self.view = view
        self.beats += 1

    def state(self) -> dict[str, object]:
        """For /health and start-up: the beats, and the outage while there is one."""
        if self.outage_since is None:
            return {"redis": "ok", "beats": self.beats}
        since = time.strftime("%H:%M:%S", time.localtime(self.outage_since))
        return {"redis": f"unreachable since {since} ({self.outage_reason})",
                "beats": self.beats}


def _reason(error: BaseException, within_s: float) -> str:
    if isinstance(error, TimeoutError) and not str(error):
        return f"no answer within {within_s:g} s"
    return f"{type(error).__name__}: {error}"[:160]
