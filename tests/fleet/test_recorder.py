"""The recorder: the fleet's stream into the SQLite history, each event once, whatever kills it,
and a live call called interrupted only when no live worker runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from functools import partial
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from console import events as ev
from console.commands.recorder import call_hook
from console.fleet import keys, wire
from console.fleet.recorder import FleetRecorder, record
from console.storage.records import CallDetail
from console.storage.repository import CallRepository
from console.storage.writer import StoreWriter
from tests.fakes.webhook_receiver import WebhookReceiver

from .helpers import fleet_settings

WORKTREE = Path(__file__).resolve().parents[2]
HOOK_SECRET = "whsec-fleet-4b1d"
PROCESS_DEADLINE_S = 30.0


def a_call(sid: str, turns: int = 2, *, ended: bool = True) -> list[ev.CallEvent]:
    events: list[ev.CallEvent] = [ev.CallStarted(sid, stream_sid="MZ" + sid, profile="x")]
    for n in range(turns):
        events.append(ev.TurnCompleted(sid, role="caller", text=f"question {n}", started=n,
                                       ended=n + 0.5))
        events.append(ev.TurnCompleted(sid, role="agent", text=f"answer {n}", started=n + 0.6,
                                       ended=n + 0.9))
    if ended:
        events.append(ev.CallEnded(sid, reason="caller-hangup"))
    return events


async def publish(redis: aioredis.Redis, entries: Iterable[dict[str, str]]) -> None:
    pipe = redis.pipeline(transaction=False)
    for fields in entries:
        pipe.xadd(keys.EVENTS, fields)
    await pipe.execute()


def stored_call(db: Path, sid: str) -> CallDetail:
    with CallRepository(db) as repository:
        call = repository.get_call(sid)
    assert call is not None, f"{sid} is not in the history"
    return call


@pytest.fixture
async def redis(redis_server) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def writer(tmp_path) -> AsyncIterator[StoreWriter]:
    store = StoreWriter(tmp_path / "calls.db", mark_abandoned_on_start=False)
    store.start()
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def recording(recorder: FleetRecorder) -> AsyncIterator[FleetRecorder]:
    task = asyncio.create_task(recorder.run(), name="test-recorder")
    try:
        yield recorder
    finally:
        recorder.stop()
        await asyncio.wait_for(task, 5)


async def test_each_event_is_stored_once_however_often_its_entry_arrives_and_redacted(
        redis, writer, tmp_path):
    sid = "CA" + "1" * 32
    events = [*a_call(sid)[:1],
              ev.TurnCompleted(sid, role="caller", text="my card is 4111 1111 1111 1111",
                               started=0, ended=1),
              *a_call(sid)[1:]]
    entries = [wire.encode(event, "worker-a") for event in events]
    # A publisher whose connection broke after Redis took a batch sends it again, same ids.
    await publish(redis, entries + entries[1:4])

    async with recording(FleetRecorder(redis, writer, "rec-1", block_ms=50)) as recorder:
        await asyncio.wait_for(recorder.caught_up.wait(), 10)

    call = await asyncio.to_thread(stored_call, tmp_path / "calls.db", sid)
    assert [(t.role, t.text) for t in call.turns] == [
        ("caller", "my card is [card]"), ("caller", "question 0"), ("agent", "answer 0"),
        ("caller", "question 1"), ("agent", "answer 1")]
    assert [e.kind for e in call.events] == [e.kind for e in events]
    assert call.status == "ended"
    assert (await redis.xpending(keys.EVENTS, keys.RECORDERS))["pending"] == 0


async def test_a_live_call_is_called_interrupted_only_once_no_live_worker_runs_it(
        redis, writer, tmp_path):
    kept, orphaned = "CA" + "a" * 32, "CA" + "b" * 32
    await publish(redis, [*(wire.encode(e, "worker-a") for e in a_call(kept, ended=False)),
                          *(wire.encode(e, "worker-b") for e in a_call(orphaned, ended=False))])
    await redis.set(keys.worker("worker-a"), "{}", ex=30)  # worker-a beats; worker-b is gone
    for sid, worker in ((kept, "worker-a"), (orphaned, "worker-b")):  # as their publishers left
        await redis.hset(keys.call(sid), mapping={"worker": worker, "state": "listening"})
        await redis.sadd(keys.LIVE_CALLS, sid)
    recorder = FleetRecorder(redis, writer, "rec-1", block_ms=50, sweep_every_s=3600)
    async with recording(recorder):  # stores both calls; the sweeps below are the test's
        await asyncio.wait_for(recorder.caught_up.wait(), 10)

    async def statuses() -> dict[str, str]:
        await writer.flush()
        db = tmp_path / "calls.db"
        return {sid: (await asyncio.to_thread(stored_call, db, sid)).status
                for sid in (kept, orphaned)}

    await recorder.sweep()  # once: a call between workers is ownerless for a moment
    assert await statuses() == {kept: "live", orphaned: "live"}
    await recorder.sweep()
    assert await statuses() == {kept: "live", orphaned: "interrupted"}
    # A console joining now draws only the call someone runs.
    assert await redis.smembers(keys.LIVE_CALLS) == {kept.encode()}
    assert not await redis.exists(keys.call(orphaned)) and await redis.exists(keys.call(kept))

    await redis.delete(keys.worker("worker-a"))
    await recorder.sweep()
    await recorder.sweep()
    assert await statuses() == {kept: "interrupted", orphaned: "interrupted"}
    assert await redis.smembers(keys.LIVE_CALLS) == set()


# --- kill -9 of a recorder process mid-load ----------------------------------------------------


def recorder_process(tmp_path: Path, redis_url: str) -> subprocess.Popen[bytes]:
    """`voiceconsole recorder` as its own process (its log goes to recorder.log)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECONSOLE_")}
    env.update(PYTHONPATH=str(WORKTREE), VOICECONSOLE_FLEET_URL=redis_url,
               VOICECONSOLE_DATA_DIR=str(tmp_path / "data"))
    with (tmp_path / "recorder.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "console.cli", "recorder", "--name", "rec-1", "--batch", "100"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log)


def alive(process: subprocess.Popen[bytes], tmp_path: Path) -> None:
    assert process.poll() is None, (tmp_path / "recorder.log").read_text()


def stored_ids(db: Path) -> list[str]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            rows = conn.execute("SELECT fleet_id FROM events").fetchall()
        except sqlite3.OperationalError:  # the recorder has not made the schema yet
            return []
    return [row[0] for row in rows]


async def poll(condition, what: str) -> None:  # noqa: ANN001 - an async predicate
    """Another process is doing the work: look again until it is done, within a deadline."""
    deadline = time.monotonic() + PROCESS_DEADLINE_S
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def all_stored(db: Path, ids: list[str]) -> bool:
    return set(ids) <= set(await asyncio.to_thread(stored_ids, db))


async def all_acknowledged(redis: aioredis.Redis) -> bool:
    """The recorder (in Redis's account) has read every entry and acknowledged it."""
    [(newest, _)] = await redis.xrevrange(keys.EVENTS, count=1)
    groups = await redis.xinfo_groups(keys.EVENTS)
    return any(g["last-delivered-id"] == newest and g["pending"] == 0 for g in groups)


async def pending_event_ids(redis: aioredis.Redis) -> list[str]:
    """The event ids of the entries delivered to a recorder and not acknowledged."""
    try:
        pending = await redis.xpending_range(keys.EVENTS, keys.RECORDERS, "-", "+", 10_000)
    except ResponseError:  # NOGROUP: the recorder has not made its group yet
        return []
    ids = []
    for entry in pending:
        found = await redis.xrange(keys.EVENTS, entry["message_id"], entry["message_id"])
        ids.append(found[0][1][b"id"].decode())
    return ids


async def hold_before_acknowledging(redis: aioredis.Redis, db: Path,
                                    process: subprocess.Popen[bytes], tmp_path: Path) -> list[str]:
    """Stop the recorder process between committing a batch and acknowledging it, the moment
    where only idempotency saves a restart from storing the batch twice: with Redis refusing
    writes for a while (CLIENT PAUSE WRITE; XREADGROUP and XACK are writes), a recorder holding
    a batch commits it and then waits on its XACK. Returns the ids of that batch."""
    deadline = time.monotonic() + PROCESS_DEADLINE_S
    while time.monotonic() < deadline:
        alive(process, tmp_path)
        if await pending_event_ids(redis):  # it holds a batch: freeze its acknowledgement
            await redis.execute_command("CLIENT", "PAUSE", "5000", "WRITE")
            held = await pending_event_ids(redis)
            if held:  # (empty: it had acknowledged just before; let it read the next one)
                await poll(partial(all_stored, db, held), "the held batch to be committed")
                return held
            await redis.execute_command("CLIENT", "UNPAUSE")
        await asyncio.sleep(0.005)  # another process's progress: look again
    raise AssertionError("the recorder never held a batch")


async def test_a_recorder_killed_mid_load_and_restarted_stores_every_event_exactly_once(
        redis, redis_server, tmp_path):
    calls = [f"CA{n:032d}" for n in range(80)]
    first = [wire.encode(e, "worker-a") for sid in calls[:60] for e in a_call(sid, 24)]
    later = [wire.encode(e, "worker-a") for sid in calls[60:] for e in a_call(sid, 24)]
    db = tmp_path / "data" / "voiceconsole.db"
    await publish(redis, first)  # 3,000 events waiting

    process = recorder_process(tmp_path, redis_server.url)
    try:
        held = await hold_before_acknowledging(redis, db, process, tmp_path)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        await redis.execute_command("CLIENT", "UNPAUSE")
    # Killed mid-load, with a batch stored and still pending: it will be delivered again.
    assert await pending_event_ids(redis) == held
    assert len(await asyncio.to_thread(stored_ids, db)) < len(first)

    await publish(redis, later)  # the workers go on meanwhile
    published = [fields["id"] for fields in first + later]
    process = recorder_process(tmp_path, redis_server.url)
    try:
        async def all_acknowledged() -> bool:
            alive(process, tmp_path)
            group = (await redis.xinfo_groups(keys.EVENTS))[0]
            return group["pending"] == 0 and group["lag"] == 0

        await poll(all_acknowledged, "the restarted recorder to catch up")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    ids = await asyncio.to_thread(stored_ids, db)
    assert len(ids) == len(published) and set(ids) == set(published)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        turns = dict(conn.execute("SELECT call_sid, COUNT(*) FROM turns GROUP BY call_sid"))
        statuses = set(conn.execute("SELECT status FROM calls"))
    assert turns == {sid: 48 for sid in calls}
    assert statuses == {("ended",)}


async def test_a_fleet_call_reaches_the_crm_webhook_once_sent_by_the_recorder(
        redis, redis_server, tmp_path):
    """In a fleet only the recorder writes the store, where a call's delivery is queued with
    its summary: so it sends the end-of-call webhook, or no CRM would ever hear of a call."""
    sid = "CA" + "7" * 32
    events = [*a_call(sid),
              ev.CallSummarized(sid, "Booked Tuesday 3 pm.", "booked", ("send a reminder",),
                                (("requested_time", "Tue 3 pm"),))]
    async with WebhookReceiver(HOOK_SECRET) as receiver:
        settings = fleet_settings(tmp_path, redis_server.url, webhook_url=receiver.url,
                                  webhook_secret=HOOK_SECRET)
        stop = asyncio.Event()
        recording_task = asyncio.create_task(record(
            settings, stop, ready=lambda _: None, call_hook=call_hook(settings)))
        try:
            entries = [wire.encode(event, "worker-a") for event in events]
            await publish(redis, entries + entries[-1:])  # the summary's entry arrives twice
            await receiver.wait_for(lambda: receiver.accepted, timeout=10)
            await poll(partial(all_acknowledged, redis), "the repeated entry to be read")
        finally:
            stop.set()
            await asyncio.wait_for(recording_task, 10)
    [delivery] = receiver.accepted  # once: the repeated entry queued no second delivery
    assert delivery.document["call"]["call_sid"] == sid
    assert delivery.document["summary"] == "Booked Tuesday 3 pm."
    assert [t["text"] for t in delivery.document["turns"]][:2] == ["question 0", "answer 0"]
