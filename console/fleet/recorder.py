"""`voiceconsole recorder`: the fleet's history, from its event stream into the SQLite store.

The recorder reads keys.EVENTS through the consumer group keys.RECORDERS and hands each event to
the store's one writer (console/storage/writer.py), through the same redaction a single process
applies, so the store stays the one history format that `voiceconsole calls` and the console
browse. An entry is acknowledged only once its rows are committed, and the writer stores each
event id once, so a recorder killed at any point and started again (it first re-reads the entries
delivered to it and never acknowledged, then takes over those of a recorder that died, then reads
new ones) loses nothing and stores nothing twice.

It is also the only process of a fleet that writes history, so it alone says a call was
interrupted: when the store holds a call as live and, twice in a row, no live worker runs it;
and it alone sends the end-of-call webhook (VOICECONSOLE_WEBHOOK_URL), queued with each call's
summary in the store's transaction, as one process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from console import events as ev
from console import profiles
from console.config import Settings
from console.fleet import keys, wire
from console.fleet.connection import connect
from console.storage.fleet_ids import live_calls
from console.storage.outbox import enqueue as enqueue_delivery
from console.storage.redacting import EVERYTHING, RedactingStore, RedactionPolicy
from console.storage.writer import StoreWriter

log = logging.getLogger(__name__)

BATCH = 500  # entries per read, stored in one transaction and acknowledged together
BLOCK_MS = 1000  # a read waits this long for new entries (and the sweep at most this late)
# Another recorder's entries are taken over once unacknowledged this long: a live recorder
# acknowledges within one transaction (milliseconds), so only a dead one's are that old.
CLAIM_IDLE_MS = 60_000
SWEEP_EVERY_S = 10.0
RETRY_S = (0.2, 5.0)
OWNERS_KEPT = 10_000  # calls whose worker the recorder remembers from the stream

# A dead worker's live-call snapshot goes, unless a worker that took the call over has rewritten
# it with its own name since the sweep looked.
_FORGET_CALL = """
local owner = redis.call('HGET', KEYS[1], 'worker')
if owner == false or owner == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

Fields = dict[bytes | str, bytes | str]
Entry = tuple[bytes, Fields | None]  # (stream id, fields); empty or None: trimmed meanwhile


class FleetRecorder:
    """Run `run()` as a task; `stop()` ends it after the batch in hand (within `block_ms` when
    idle). It is not cancelled: redis-py 8.2 was seen to swallow the cancellation of a blocked
    XREADGROUP and wait on the dead socket for good. A process killed at any point loses
    nothing: what was read and not acknowledged is read again by the next start."""

    def __init__(self, redis: aioredis.Redis, writer: StoreWriter, consumer: str, *,
                 policy_for: Callable[[str | None], RedactionPolicy] = lambda _: EVERYTHING,
                 batch: int = BATCH, block_ms: int = BLOCK_MS,
                 sweep_every_s: float = SWEEP_EVERY_S,
                 on_event: Callable[[ev.CallEvent], None] = lambda _: None) -> None:
        self.redis = redis
        self.writer = writer
        self._on_event = on_event  # told each event handed to the store (the webhook's worker)
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.sweep_every_s = sweep_every_s
        self.caught_up = asyncio.Event()  # set while the last read found nothing new
        self._stopping = asyncio.Event()
        self.stored = 0  # entries committed and acknowledged (duplicates included)
        self.skipped = 0  # entries that carried no event we can read
        self._fleet_id = ""  # the id of the event being handed to the redaction below
        # Redaction publishes no spans here: the worker's own redaction already put them on the
        # stream (its recording mutes them), and they arrive as events like any other.
        self._redacting = RedactingStore(self._keep, lambda _: None, policy_for)
        self._owners: OrderedDict[str, str] = OrderedDict()  # call -> last worker seen
        self._suspects: frozenset[str] = frozenset()
        self._delay = 0.0
        self._forget = redis.register_script(_FORGET_CALL)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._ensure_group()
                await self._reread_own()
                await self._take_over()
                await self._follow()
            except (RedisError, OSError) as error:
                self._delay = min(RETRY_S[1], max(RETRY_S[0], self._delay * 2))
                log.error("recorder: Redis unreachable (%s: %s); retrying in %.1f s",
                          type(error).__name__, error, self._delay)
                with contextlib.suppress(TimeoutError):  # the retry timer, or a stop
                    await asyncio.wait_for(self._stopping.wait(), self._delay)

    async def _ensure_group(self) -> None:
        """From the stream's start ("0"): a fleet that ran before its first recorder still gets
        the history the stream holds."""
        try:
            await self.redis.xgroup_create(keys.EVENTS, keys.RECORDERS, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):  # anything but "it exists already"
                raise

    async def _reread_own(self) -> None:
        """Entries delivered to this name before (a previous run, a broken connection) and
        never acknowledged."""
        after = "0"
        while entries := await self._read(after):
            await self._store(entries)
            after = entries[-1][0].decode()

    async def _take_over(self) -> None:
        """Entries another recorder read and has not acknowledged for CLAIM_IDLE_MS: it died."""
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(keys.EVENTS, keys.RECORDERS, self.consumer,
                                                CLAIM_IDLE_MS, start_id=start, count=self.batch)
            await self._store(reply[1])
            start = reply[0].decode()
            if start == "0-0":
                return

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self.sweep_every_s
        while not self._stopping.is_set():
            entries = await self._read(">", block=self.block_ms)
            self._delay = 0.0
            if entries:
                self.caught_up.clear()
                await self._store(entries)
            if loop.time() >= next_sweep:  # behind or not: a call it ends later revives
                await self.sweep()
                await self._take_over()
                next_sweep = loop.time() + self.sweep_every_s
            if not entries:
                self.caught_up.set()

    async def _read(self, after: str, block: int | None = None) -> list[Entry]:
        reply = await self.redis.xreadgroup(keys.RECORDERS, self.consumer, {keys.EVENTS: after},
                                            count=self.batch, block=block)
        return _entries(reply)

    # --- storing ----------------------------------------------------------------------------
    async def _store(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        for _, fields in entries:
            self._hand_on(fields)
        await self.writer.flush()  # committed: only now may Redis forget them
        await self.redis.xack(keys.EVENTS, keys.RECORDERS, *[entry_id for entry_id, _ in entries])
        self.stored += len(entries)

    def _hand_on(self, fields: Fields | None) -> None:
        found = wire.decode(fields) if fields else None
        if found is None:  # trimmed before it was read, or not an event this version knows
            self.skipped += 1
            return
        self._note_owner(found)
        self._fleet_id = found.id
        self._redacting(found.event)  # calls _keep with the event as history holds it

    def _keep(self, event: ev.CallEvent) -> None:
        self.writer.store(event, self._fleet_id)
        self._on_event(event)

    def _note_owner(self, found: wire.FleetEvent) -> None:
        sid = found.event.call_sid
        if isinstance(found.event, ev.CallEnded):
            self._owners.pop(sid, None)
            return
        self._owners[sid] = found.worker
        self._owners.move_to_end(sid)
        while len(self._owners) > OWNERS_KEPT:
            self._owners.popitem(last=False)

    # --- calls nobody runs ------------------------------------------------------------------
    async def sweep(self) -> None:
        """Calls the store holds as live that no live worker runs, seen so at two sweeps in a
        row (a call moving to another worker is briefly ownerless), are marked interrupted. Runs
        every `sweep_every_s`. A call marked so while the recorder is behind is put right by its
        own events: its end, or its start on the worker that took it over."""
        live = await asyncio.to_thread(live_calls, self.writer.db_path)
        orphans = await self._orphans(live) if live else {}
        gone = frozenset(orphans) & self._suspects
        self._suspects = frozenset(orphans) - gone
        if not gone:
            return
        log.warning("recorder: no live worker runs %d call(s); marked interrupted", len(gone))
        self.writer.mark_interrupted(gone)
        await self.writer.flush()
        for sid in gone:  # nor should a console joining the fleet draw them
            await self._forget(keys=[keys.call(sid), keys.LIVE_CALLS], args=[orphans[sid], sid])

    async def _orphans(self, live: list[str]) -> dict[str, str]:
        """The live calls no live worker runs, each with the worker it had ("": unknown)."""
        alive = await self._alive_workers()
        pipe = self.redis.pipeline(transaction=False)
        for sid in live:
            pipe.hget(keys.call(sid), "worker")
        owners = await pipe.execute()
        orphans = {}
        for sid, owner in zip(live, owners, strict=True):
            worker = owner.decode() if owner else self._owners.get(sid)
            if worker is None:
                # Owner unknown (no snapshot, not seen since this recorder started): only a
                # fleet with no live worker at all certainly runs it nowhere.
                runs = bool(alive)
            else:
                runs = worker in alive
            if not runs:
                orphans[sid] = worker or ""
        return orphans

    async def _alive_workers(self) -> set[str]:
        """Workers whose heartbeat key has not expired (registry.py beats it)."""
        prefix = keys.worker("")
        return {key.decode().removeprefix(prefix)
                async for key in self.redis.scan_iter(match=keys.WORKER_PATTERN, count=500)}


def _entries(reply: Any) -> list[Entry]:
    """XREADGROUP's entries of our one stream: its reply is [[name, entries]] in RESP2 and
    {name: [entries]} in RESP3 (the client's `protocol`)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values()))[0])
    return list(reply[0][1])


# --- the command's process ------------------------------------------------------------------


class ProfilePolicies:
    """What history must not keep of a call, by its profile (as the runtime's store does): read
    from the profile files at start (a restart picks up edits); an unknown profile keeps nothing
    sensitive."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.book = profiles.ProfileBook()

    def load(self) -> None:
        """Blocking: reads every profile file."""
        for name in profiles.list_profiles():
            try:
                self.book.get(name)
            except profiles.ProfileError as error:
                log.warning("recorder: profile %s unreadable (%s): its calls keep nothing "
                            "sensitive", name, error)

    def __call__(self, name: str | None) -> RedactionPolicy:
        profile = self.book.last_good(name or self.default)
        if profile is None:
            return EVERYTHING
        return RedactionPolicy(frozenset(profile.redact), profile.sensitive_prompts)


def consumer_name(settings: Settings, name: str | None = None) -> str:
    """Stable across restarts on one host, so a restarted recorder finds its own pending
    entries at once."""
    return name or settings.fleet.name or f"recorder@{socket.gethostname()}"


class CallHook(Protocol):
    """The end-of-call webhook's sender (console/handoff/worker.py WebhookWorker), which the
    command builds: handoff is a sibling of fleet, so neither imports the other."""

    url: str

    def start(self) -> None: ...

    def on_event(self, event: ev.CallEvent) -> None: ...

    async def stop(self) -> None: ...


async def record(settings: Settings, stop: asyncio.Event, *, name: str | None = None,
                 batch: int = BATCH, ready: Callable[[str], None] = print,
                 call_hook: Callable[[StoreWriter], CallHook] | None = None) -> None:
    """Run a recorder until `stop` is set: the store's writer, the Redis client, the loop; and
    `call_hook(writer)`, the end-of-call webhook's sender, when given."""
    assert settings.fleet.url is not None, "the recorder needs VOICECONSOLE_FLEET_URL"
    policies = ProfilePolicies(settings.profile.default)
    await asyncio.to_thread(policies.load)
    # No sweep at start: in a fleet, live calls are marked interrupted by asking who runs them.
    # The end-of-call webhook is sent from here: a call's summary and its delivery are queued in
    # one transaction of the store, and only the recorder writes the fleet's store.
    writer = StoreWriter(settings.data.db, mark_abandoned_on_start=False,
                         also_write=enqueue_delivery if call_hook is not None else None)
    writer.start()
    hooks = call_hook(writer) if call_hook is not None else None
    if hooks is not None:
        hooks.start()
    redis = connect(settings.fleet.url)
    recorder = FleetRecorder(redis, writer, consumer_name(settings, name), policy_for=policies,
                             batch=batch,
                             on_event=hooks.on_event if hooks is not None else lambda _: None)
    task = asyncio.create_task(recorder.run(), name="fleet-recorder")
    ready(f"voiceconsole recorder: {keys.EVENTS} -> {settings.data.db} "
          f"(group {keys.RECORDERS}, consumer {recorder.consumer})"
          + (f"; each finished call is posted to {hooks.url}" if hooks is not None else ""))
    stopping = asyncio.create_task(stop.wait(), name="recorder-stop")
    try:
        await asyncio.wait([stopping, task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        recorder.stop()
        await asyncio.wait([task])  # the batch in hand is stored and acknowledged
        if hooks is not None:  # a POST in flight stays pending: sent again at the next start
            await hooks.stop()
        await writer.close()
        await redis.aclose()
    task.result()  # a recorder that failed (the store gave up) fails the command
