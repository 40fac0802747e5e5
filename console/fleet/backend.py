"""The operator console's backend in a fleet: every worker's calls, on this console's own bus.

Shaped like console/tui/backend.py `ConsoleBackend` (bus, control, history, listen_in, start, stop,
status), so the dashboard runs unchanged. On start it reads the live-call snapshots (joining.py),
then follows the fleet's event stream from that point: XREAD BLOCK with no consumer group, so
every console sees every event, and any number of consoles can attach. Each entry's event is
published on the local bus, after a CallHosted that names the call's worker the first time the
console sees it there (the board's worker column).

Operator actions go to the owning worker (remote.py); take-over is exclusive (claims.py). Call
audio does not cross the fleet: listen-in is None, and the console says so. Hosts no media
server: the workers do.

Losing Redis does not end anything: the console shows the outage, asks again every RETRY_S, and
carries on from the last entry it saw; when Redis came back empty (restarted), it joins afresh.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypedDict

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from console import events as ev
from console import profiles
from console.config import Settings
from console.fleet import joining, keys, wire
from console.fleet.claims import Claims, Holder
from console.fleet.connection import connect
from console.fleet.directory import Directory
from console.fleet.remote import RemoteControl
from console.fleet.tail import START, entry, newest_id, read_entries, stop_tasks
from console.storage.history import LazyHistory

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]
BLOCK_MS = 1000  # one XREAD waits this long for new entries before asking again
BATCH = 500  # entries per XREAD: a console catching up reads in bites, painting between them
RETRY_S = 0.5  # while Redis is out of reach, ask again this often
RECENTLY_ENDED = 1000  # ended calls remembered, so their late events (a summary) revive nothing


class FleetStatus(TypedDict, total=False):
    """The console's BackendStatus keys, with the fleet's health in them."""

    public_url: str | None
    local_url: str
    tunnel: str
    webhook: str
    tiers: dict[str, str]  # the workers' (each has its own): not known here
    errors: dict[str, int]


class FleetBackend:
    def __init__(self, settings: Settings, *, console: str | None = None,
                 client: aioredis.Redis | None = None) -> None:
        if settings.fleet.url is None:
            raise ValueError("a fleet console needs VOICECONSOLE_FLEET_URL")
        self.settings = settings
        self.bus = ev.EventBus()
        self._redis = client or connect(settings.fleet.url)
        self.console = console or f"{socket.gethostname()}:{os.getpid()}"
        self.calls = Directory()
        self.claims = Claims(self._redis, self.console, settings.fleet.claim_ttl_s,
                             on_lost=self._claim_lost)
        self.control = RemoteControl(self._redis, self.claims, self.calls, self._announce)
        self.history = LazyHistory(settings.data.db)
        # The risk board's phrases per profile, from this machine's copies (console/tui/ranking).
        self.profiles = profiles.ProfileBook()
        self.listen_in: None = None  # remote call audio is out of scope (issue 17)
        self._last = START  # the newest stream entry this console has shown
        self._ended: dict[str, None] = {}  # insertion-ordered: the oldest is forgotten first
        self.redis_up: bool | None = None  # None: not asked yet (the console is joining)
        self.workers_seen = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, progress: Progress) -> None:
        await self._read_profiles(progress)
        progress("fleet", f"joining the fleet at {self._where()}")
        try:
            await self._join()
        except RedisError:  # the console shows why it could not start, and stays open
            self.redis_up = False
            raise
        self.workers_seen = await self._count_workers()
        progress("fleet", f"{len(self.calls.live())} live calls on {self.workers_seen} workers; "
                          f"following {keys.EVENTS}")
        progress("call audio", "stays on the workers: no listen-in or microphone here")
        self.claims.start()
        self._spawn(self._follow(), "fleet events")
        self._spawn(self._watch(), "fleet health")

    async def stop(self) -> None:
        """Let go of the calls this console's operator holds, then stop following."""
        try:
            await self.control.release_all("console closed")
        except RedisError as error:  # their claims lapse after the TTL instead
            log.warning("could not release the operator's claims: %s", error)
        await self.claims.stop()
        await stop_tasks(self._tasks, self._stop_flag)
        await self._redis.aclose()

    def _stop_flag(self) -> None:
        self._stopping = True

    def status(self) -> FleetStatus:
        health = {True: "Redis up", False: "REDIS UNREACHABLE", None: "joining"}[self.redis_up]
        return {
            "local_url": f"fleet: {self.workers_seen} workers, "
                         f"{len(self.calls.live())} live calls, {health}",
            "tunnel": "on the workers",
            "webhook": "from the recorder",
            "errors": {"redis down": int(self.redis_up is False)},
        }

    async def _read_profiles(self, progress: Progress) -> None:
        """The calls run on the workers' profiles; a bad copy here only weakens the risk cues."""
        try:
            await asyncio.to_thread(self.profiles.check_all)
        except profiles.InvalidProfiles as error:
            progress("profiles", f"some unreadable here (risk cues only): {error}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _where(self) -> str:
        """Host and port only: the URL may carry a password."""
        kwargs = self._redis.connection_pool.connection_kwargs
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"

    # --- joining and following -----------------------------------------------------------------

    async def _join(self) -> None:
        """The snapshots, then the stream from the entry that was newest before reading them:
        an event in between is shown twice (harmless: the board folds it again), none is lost."""
        self._last = await newest_id(self._redis, keys.EVENTS)
        for events in await joining.live_calls(self._redis):
            for event in events:
                self._show(event)
        self.redis_up = True

    async def _follow(self) -> None:
        while not self._stopping:
            try:
                replies = await self._redis.xread({keys.EVENTS: self._last}, block=BLOCK_MS,
                                                  count=BATCH)
            except RedisError as error:
                log.warning("fleet stream unreadable: %s", error)
                self.redis_up = False
                await self._rejoin_when_back()
                continue
            self.redis_up = True
            for entry_id, fields in read_entries(replies):
                self._last = entry_id
                if (event := wire.decode(fields)) is not None:
                    self._deliver(event)

    async def _rejoin_when_back(self) -> None:
        """Wait for Redis; carry on from our last entry if the stream still has it, else (Redis
        restarted empty, or the stream was trimmed past us) join afresh from the snapshots."""
        while not self._stopping:
            await asyncio.sleep(RETRY_S)  # Redis is another process: ask again shortly
            try:
                if self._last == START or await self._redis.xrange(keys.EVENTS, self._last,
                                                                   self._last):
                    return
                await self._join()
                return
            except RedisError:
                continue

    def _deliver(self, published: wire.FleetEvent) -> None:
        event, worker = published.event, published.worker
        sid = event.call_sid
        if sid not in self._ended and self.calls.place(sid, worker):
            self._show(ev.CallHosted(sid, worker=worker, at=event.at))
        self._show(event)

    def _show(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.CallHosted):
            self.calls.place(event.call_sid, event.worker)
        elif isinstance(event, ev.CallEnded):
            self._remember_ended(event.call_sid)
            self.claims.forget(event.call_sid)
        self.calls.observe(event)
        self.control.observe(event)
        self.bus.publish(event)

    def _remember_ended(self, call_sid: str) -> None:
        self._ended[call_sid] = None
        while len(self._ended) > RECENTLY_ENDED:
            del self._ended[next(iter(self._ended))]

    # --- publishing (claims) -------------------------------------------------------------------

    async def _announce(self, event: ev.CallEvent, worker: str) -> None:
        """An event every console must see (a claim): on the fleet's stream, as the call's."""
        await self._redis.xadd(keys.EVENTS, entry(wire.encode(event, worker)),
                               maxlen=self.settings.fleet.stream_maxlen, approximate=True)

    def _claim_lost(self, call_sid: str, mine: Holder) -> None:
        worker = self.calls.worker_of(call_sid)
        if worker is not None:
            lapsed = ev.ClaimReleased(call_sid, holder=mine.actor, why="lapsed")
            self._spawn(self._announce(lapsed, worker), f"claim lapsed {call_sid}")

    # --- health --------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Every heartbeat: how many workers are alive, and whether another console's claim
        lapsed (its console died without letting go: nobody announces that)."""
        while not self._stopping:
            await asyncio.sleep(self.settings.fleet.heartbeat_s)  # a periodic look, not a wait
            try:
                self.workers_seen = await self._count_workers()
                await self._notice_lapsed_claims()
            except RedisError as error:
                log.info("fleet health unknown: %s", error)
                self.redis_up = False

    async def _count_workers(self) -> int:
        return len([key async for key in self._redis.scan_iter(match=keys.WORKER_PATTERN)])

    async def _notice_lapsed_claims(self) -> None:
        others = {sid: actor for sid, actor in self.calls.holders.items()
                  if not self.claims.holds(sid)}
        for sid, actor in others.items():
            if not await self._redis.exists(keys.claim(sid)):
                self._show(ev.ClaimReleased(sid, holder=actor, why="lapsed"))
