"""A media worker's call events on the fleet's stream, and its live calls' snapshots.

`FleetPublisher` subscribes to the runtime's bus. The bus is synchronous and runs on the call's
path, so the subscriber only appends to a bounded queue; a task of its own sends what is queued,
in order, one pipelined round trip per batch: an XADD per event (MAXLEN ~ fleet.stream_maxlen,
through wire.encode) and the snapshots that changed (snapshot.py, with the set keys.LIVE_CALLS).

When Redis is unreachable the calls keep talking: events wait in the queue (the backlog), the
publisher says so (`status()`, and a ProviderDegraded on the bus for each live call, once per
outage), and it retries with backoff. When Redis answers again it first rewrites every live
call's snapshot (a restarted Redis may have lost them) and then sends the backlog in order. Each
event gets its id when it is first encoded and keeps it when a batch is sent again, so an entry
that Redis took before the connection broke, and that is then sent twice, is still stored once
(the recorder keeps one row per id). Past `max_backlog` the oldest events are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from console import events as ev
from console.config.groups import FleetSettings
from console.fleet import keys, wire
from console.fleet.carried import CARRIED_TTL_S, CarriedConversation
from console.fleet.snapshot import LiveCall

log = logging.getLogger(__name__)

# 50k events is minutes of a full worker's calls (100 calls make a few hundred events a second,
# interim words included) and about 50 MB: past that an outage costs the oldest events, counted,
# rather than the worker's memory.
DEFAULT_MAX_BACKLOG = 50_000
BATCH = 500  # events per round trip: one pipeline of XADDs
RETRY_S = (0.1, 1.0)  # first wait after a failure, cap: a lost Redis is retried each second
STOP_GRACE_S = 3.0  # what is still queued at shutdown gets this long to reach Redis

# A call that ended here: its snapshot and carried conversation go, unless another worker took
# the call over meanwhile (failover: a stopping worker's stream ended and the call moved on
# before this end reached Redis). Then they are that worker's, and stay.
_FORGET_OWN_CALL = """
local owner = redis.call('HGET', KEYS[1], 'worker')
if owner == false or owner == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[2])
end
return 0
"""


@dataclass(frozen=True)
class PublisherStatus:
    """What the runtime and the console show of the publisher."""

    connected: bool
    backlog: int  # events not yet on the stream
    sent: int
    dropped: int  # lost to the backlog's bound during an outage
    outage_since: float | None  # wall clock of the first failure of the current outage
    last_error: str


@dataclass
class _Outgoing:
    event: ev.CallEvent
    fields: dict[str, str] | None = None  # encoded (with its id) when first sent
    changed: frozenset[str] = frozenset()  # the snapshots it changed, rewritten on every try


class FleetPublisher:
    """A runtime attachment (Runtime.attach): `start()` subscribes and starts the sender,
    `stop()` unsubscribes and gives what is queued a moment to go out."""

    name = "fleet events"

    def __init__(self, bus: ev.EventBus, redis: aioredis.Redis, worker: str,
                 settings: FleetSettings, *, max_backlog: int = DEFAULT_MAX_BACKLOG) -> None:
        self.bus = bus
        self.redis = redis
        self.worker = worker
        self.maxlen = settings.stream_maxlen
        self.max_backlog = max_backlog
        self._queue: deque[_Outgoing] = deque()
        self._calls: dict[str, LiveCall] = {}  # the sender's, in event order
        self._carried: dict[str, CarriedConversation] = {}  # failover's state, same order
        self._resumed: dict[str, CarriedConversation] = {}  # taken over, not yet started here
        self._carried_unsent: set[str] = set()  # changed since Redis last took them
        # This process, on each snapshot: failover tells a call of a dead predecessor that had
        # this worker's name from one of ours.
        self.incarnation = secrets.token_hex(8)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._sent = 0
        self._dropped = 0
        self._outage_since: float | None = None
        self._last_error = ""
        self._delay = 0.0

    # --- the bus side: never blocks, never raises ------------------------------------------
    def __call__(self, event: ev.CallEvent) -> None:
        self._queue.append(_Outgoing(event))
        if len(self._queue) > self.max_backlog:
            self._queue.popleft()
            self._note_drop()
        self._idle.clear()
        self._wake.set()

    def _note_drop(self) -> None:
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 1000 == 0:
            log.error("fleet events: Redis unreachable and the backlog is full (%d): dropped "
                      "the oldest (%d lost so far)", self.max_backlog, self._dropped)

    # --- the attachment ---------------------------------------------------------------------
    async def start(self) -> FleetPublisher:
        self._unsubscribe = self.bus.subscribe(self)
        self._task = asyncio.create_task(self._run(), name=f"fleet-publisher-{self.worker}")
        return self

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), STOP_GRACE_S)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._queue:
            log.error("fleet events: %d events not sent at shutdown (Redis unreachable)",
                      len(self._queue))

    def describe(self) -> str:
        return f"publishing {self.worker}'s call events to {keys.EVENTS}"

    def status(self) -> PublisherStatus:
        return PublisherStatus(connected=self._outage_since is None, backlog=len(self._queue),
                               sent=self._sent, dropped=self._dropped,
                               outage_since=self._outage_since, last_error=self._last_error)

    def continue_call(self, carried: CarriedConversation) -> None:
        """A call another worker ran is resumed here: its carried conversation goes on from
        what that worker left, not from this worker's CallStarted."""
        self._resumed[carried.call_sid] = carried

    async def drained(self) -> None:
        """Return once everything published so far is on the stream."""
        await self._idle.wait()

    # --- the sender -------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                if not await self._send_next():
                    await asyncio.sleep(self._delay)  # the retry timer, not a wait on a fact
            self._idle.set()

    async def _send_next(self) -> bool:
        """Send the oldest batch; False when Redis did not take it (it stays queued)."""
        batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
        resync = self._outage_since is not None  # a restarted Redis lost the snapshots
        try:
            # A Redis that stops answering (not refusing) fails by the client's socket timeout.
            await self._send(batch, resync)
        except (RedisError, OSError, TimeoutError) as error:
            self._failed(error)
            return False
        except Exception:  # a bug: losing this batch beats a sender that stops for good
            log.exception("fleet events: could not send %d events; dropped them", len(batch))
            self._dropped += len(batch)
        for item in batch:  # the bus only appends (and drops the oldest): still in front
            if self._queue and self._queue[0] is item:
                self._queue.popleft()
        self._sent += len(batch)
        if resync:
            self._recovered()
        return True

    async def _send(self, batch: list[_Outgoing], resync: bool) -> None:
        # One MULTI: a console joining reads the stream's newest id, then the snapshots; an
        # entry and its snapshot written apart could let it miss a call in between (joining.py).
        pipe = self.redis.pipeline(transaction=True)
        changed = set(self._calls) if resync else set()
        for item in batch:
            fields = item.fields or self._encode(item)
            pipe.xadd(keys.EVENTS, _for_redis(fields), maxlen=self.maxlen, approximate=True)
            changed |= item.changed
        for call_sid in changed:
            self._write_snapshot(pipe, call_sid)
        carried = set(self._carried) if resync else set(self._carried_unsent)
        for call_sid in carried:
            self._write_carried(pipe, call_sid)
        await pipe.execute()
        self._carried_unsent -= carried

    def _encode(self, item: _Outgoing) -> dict[str, str]:
        """First time out: the event's id is fixed from here on, and its call's snapshot follows
        it (once, in order)."""
        item.fields = wire.encode(item.event, self.worker)
        item.changed = frozenset(self._follow(item.event))
        self._carry(item.event)
        return item.fields

    def _follow(self, event: ev.CallEvent) -> set[str]:
        """Update the snapshot of the event's call; the calls whose snapshot changed."""
        sid = event.call_sid
        if isinstance(event, ev.CallStarted):
            self._calls[sid] = LiveCall(self.worker, event, updated=event.at,
                                        incarnation=self.incarnation)
            return {sid}
        if isinstance(event, ev.CallEnded):
            return {sid} if self._calls.pop(sid, None) is not None else set()
        call = self._calls.get(sid)
        return {sid} if call is not None and call.apply(event) else set()

    def _carry(self, event: ev.CallEvent) -> None:
        """Update the carried conversation of the event's call (failover). Written only when it
        changed (turns, final words, an emergency), not with every snapshot: it grows with the
        call, the snapshot does not."""
        sid = event.call_sid
        if isinstance(event, ev.CallStarted):
            resumed = self._resumed.pop(sid, None)  # its past, from the worker that died
            self._carried[sid] = resumed or CarriedConversation.started(event)
        elif isinstance(event, ev.CallEnded):
            self._carried.pop(sid, None)  # _write_snapshot forgets it with the snapshot
            self._carried_unsent.discard(sid)
            return
        carried = self._carried.get(sid)
        if carried is not None and carried.apply(event):
            self._carried_unsent.add(sid)

    def _write_snapshot(self, pipe: Pipeline, call_sid: str) -> None:
        call = self._calls.get(call_sid)
        if call is None:  # ended: nobody will resume it either
            pipe.eval(_FORGET_OWN_CALL, 3, keys.call(call_sid), keys.conversation(call_sid),
                      keys.LIVE_CALLS, self.worker, call_sid)
            return
        pipe.hset(keys.call(call_sid), mapping=_for_redis(call.fields()))
        pipe.sadd(keys.LIVE_CALLS, call_sid)

    def _write_carried(self, pipe: Pipeline, call_sid: str) -> None:
        if (carried := self._carried.get(call_sid)) is not None:
            pipe.set(keys.conversation(call_sid), carried.to_json(), ex=CARRIED_TTL_S)

    # --- outages ----------------------------------------------------------------------------
    def _failed(self, error: BaseException) -> None:
        self._last_error = f"{type(error).__name__}: {error}"
        self._delay = min(RETRY_S[1], max(RETRY_S[0], self._delay * 2))
        if self._outage_since is not None:
            return
        self._outage_since = time.time()
        log.error("fleet events: Redis unreachable (%s); %d events wait, calls go on",
                  self._last_error, len(self._queue))
        for call_sid in list(self._calls):  # each live call's timeline says so, once
            self.bus.publish(ev.ProviderDegraded(
                call_sid, provider="fleet", problem=f"Redis unreachable: {self._last_error}",
                fallback="events kept on this worker until Redis returns"))

    def _recovered(self) -> None:
        lasted = time.time() - (self._outage_since or time.time())
        log.warning("fleet events: Redis reachable again after %.1f s; backlog %d, %d dropped",
                    lasted, len(self._queue), self._dropped)
        self._outage_since = None
        self._delay = 0.0


def _for_redis(fields: dict[str, str]) -> dict[FieldT, EncodableT]:
    """The same strings, typed as the client takes them (its dict type is invariant)."""
    return {key: value for key, value in fields.items()}
