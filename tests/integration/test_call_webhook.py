"""The end-of-call webhook against a loopback receiver that verifies every signature: a call
over the real server is delivered exactly once; a 30 s receiver outage and a kill -9 between
attempts still end in one delivery; N failures dead-letter it, and a retry from the console's
side delivers it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from console import events as ev
from console.config import load_settings
from console.handoff.worker import Deliveries, WebhookWorker
from console.storage.outbox import Outbox, enqueue
from console.storage.records import Delivery
from console.storage.writer import StoreWriter
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.conftest import spoken, start_cloud_stack, stop_cloud_stack

SECRET = "whsec-test-9f2c"
SID = "CA00000000000000000000000000hook"


def _settings(db: Path, url: str, **overrides: Any):
    values = dict(_env_file=None, data_db=db, webhook_url=url,
                  webhook_secret=SECRET, webhook_backoff_base_s=1.0,
                  webhook_backoff_cap_s=4.0)
    return load_settings(**{**values, **overrides})


async def _store_summarized_call(db: Path, sid: str = SID) -> None:
    """What a finished call leaves: its start, a turn each way, its end and its summary, written
    by the real store writer with the outbox hook (one transaction for the summary and its
    delivery)."""
    writer = StoreWriter(db, also_write=enqueue)
    writer.start()
    now = time.time()
    for event in (ev.CallStarted(sid, "MZ1", "+15550001111", "+15550000000", "scheduling"),
                  ev.TurnCompleted(sid, "caller", "book me in for Tuesday", now - 3, now - 2),
                  ev.TurnCompleted(sid, "agent", "Tuesday at 3 pm it is.", now - 2, now - 1),
                  ev.CallEnded(sid, "caller-hung-up"),
                  ev.CallSummarized(sid, "Booked Tuesday 3 pm.", "booked",
                                    ("send a reminder",), (("requested_time", "Tue 3 pm"),))):
        writer(event)
    await writer.close()


def _rows(db: Path) -> list[Delivery]:
    with Outbox(db) as outbox:
        return outbox.list_deliveries(("pending", "delivered", "dead"))


async def _until_row(db: Path, status: str | None, within: float,
                     sid: str = SID) -> Delivery:
    """The worker (maybe in another process) records outcomes in the file, and publishes no
    event: the file is read until the call's delivery has `status` (None: any failure noted)."""
    async with asyncio.timeout(within):
        while True:
            rows = [r for r in await asyncio.to_thread(_rows, db) if r.call_sid == sid]
            if rows and (rows[0].status == status or status is None and rows[0].last_error):
                return rows[0]
            await asyncio.sleep(0.05)


@asynccontextmanager
async def _worker(settings):
    worker = WebhookWorker(settings, Outbox(settings.data.db))
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


# ------------------------------------------------------------------ over the real server


@pytest.mark.timeout(30)
async def test_a_finished_call_over_the_real_server_reaches_the_receiver_once_signed(tmp_path):
    async with WebhookReceiver(SECRET) as receiver:
        hook = {"webhook_url": receiver.url, "webhook_secret": SECRET}
        stack, parts = await start_cloud_stack(tmp_path, script=["book me in for Tuesday"],
                                               overrides=hook)
        try:
            stack.groq.reply = "Tuesday at 3 pm it is."
            # The model's summary (the real summarizer asks for it when the call ends).
            stack.groq.structured_reply = json.dumps({
                "summary": "Booked Tuesday 3 pm.", "disposition": "booked",
                "action_items": ["send a reminder"],
                "fields": {"name": None, "callback_number": None, "requested_time": "Tue 3 pm",
                           "visit": None}})
            caller = stack.caller(spoken(), fast=True)
            await caller.run()
            sid = caller.options.call_sid
            await receiver.wait_for(lambda: receiver.accepted, timeout=10)
            row = await _until_row(stack.runtime.settings.data.db, "delivered", 5, sid)
        finally:
            await stop_cloud_stack(parts)
    assert len(receiver.requests) == 1 and receiver.requests[0].signature_ok
    assert receiver.accepted_keys == [f"{sid}:call.completed"] and row.attempts == 1
    document = receiver.accepted[0].document
    assert document["call"]["call_sid"] == sid and document["call"]["status"] == "ended"
    assert (document["summary"], document["disposition"]) == ("Booked Tuesday 3 pm.", "booked")
    assert document["action_items"] == ["send a reminder"]
    assert document["fields"] == {"requested_time": "Tue 3 pm"}
    # The summary waited for the recording to be saved, so the hand-off carries it.
    recording = document["recording"]
    assert recording["path"].endswith(f"{sid}.wav")
    assert await asyncio.to_thread(Path(recording["path"]).is_file)
    assert recording["seconds"] > 1.0
    turns = [(turn["role"], turn["text"]) for turn in document["turns"]]
    assert ("caller", "book me in for Tuesday") in turns
    assert "CallEnded" in [e["kind"] for e in document["events"]] and document["metrics"]


# ------------------------------------------------------------------ outage, kill -9, dead letters


@pytest.mark.timeout(60)
@pytest.mark.long
async def test_a_30_s_receiver_outage_ends_in_one_delivery_after_it(tmp_path):
    """Mostly waiting: the receiver answers 503 for 30 s of wall time, then 200."""
    db = tmp_path / "calls.db"
    outage_ends: list[float] = []

    def answer() -> int:
        outage_ends or outage_ends.append(time.time() + 30)
        return 503 if time.time() < outage_ends[0] else 200

    async with WebhookReceiver(SECRET, answer) as receiver:
        await _store_summarized_call(db)
        # Waits of 1, 2, then 4 s at most (2-4 s with jitter): 20 attempts outlast 30 s.
        settings = _settings(db, receiver.url, webhook_max_attempts=20)
        async with _worker(settings):
            await receiver.wait_for(lambda: receiver.accepted, timeout=50)
            row = await _until_row(db, "delivered", 5)
    refused = receiver.requests[:-1]
    assert len(receiver.accepted) == 1 and receiver.accepted[0].at >= outage_ends[0]
    assert refused and all(r.status == 503 for r in refused)
    assert len({r.body for r in receiver.requests}) == 1, "every attempt sends the same bytes"
    assert row.attempts == len(receiver.requests) >= 8
    assert receiver.accepted[0].at - outage_ends[0] <= 4.5, "the next attempt after the outage"


async def _deliver_process(db: Path, url: str) -> Any:
    env = {**os.environ, "VOICECONSOLE_DATA_DB": str(db), "VOICECONSOLE_WEBHOOK_URL": url,
           "VOICECONSOLE_WEBHOOK_SECRET": SECRET, "VOICECONSOLE_WEBHOOK_BACKOFF_BASE_S": "1",
           "PYTHONPATH": os.getcwd()}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "webhooks", "deliver", env=env, cwd=db.parent,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


@pytest.mark.timeout(40)
async def test_a_kill_9_between_attempts_still_ends_in_one_delivery(tmp_path):
    db = tmp_path / "calls.db"
    statuses = [503]
    async with WebhookReceiver(SECRET, lambda: statuses[-1]) as receiver:
        await _store_summarized_call(db)
        first = await _deliver_process(db, receiver.url)
        try:
            await receiver.wait_for(lambda: receiver.requests, timeout=15)
            await _until_row(db, None, 10)  # the failure is recorded: between attempts
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        statuses.append(200)
        second = await _deliver_process(db, receiver.url)
        try:
            await receiver.wait_for(lambda: receiver.accepted, timeout=15)
            row = await _until_row(db, "delivered", 5)
        finally:
            second.send_signal(signal.SIGINT)
            await second.wait()
    assert first.returncode == -signal.SIGKILL
    assert [r.status for r in receiver.requests] == [503, 200]
    assert [r.attempt for r in receiver.requests] == [1, 2] and row.attempts == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert receiver.accepted_keys == [f"{SID}:call.completed"]


@pytest.mark.timeout(20)
async def test_n_failures_dead_letter_it_and_a_retry_from_the_console_delivers_it(tmp_path):
    db = tmp_path / "calls.db"
    statuses = [500]
    async with WebhookReceiver(SECRET, lambda: statuses[-1]) as receiver:
        await _store_summarized_call(db)
        settings = _settings(db, receiver.url, webhook_max_attempts=3,
                             webhook_backoff_base_s=0.05, webhook_backoff_cap_s=0.2)
        async with _worker(settings) as worker:
            dead = await _until_row(db, "dead", 10)
            assert [r.status for r in receiver.requests] == [500, 500, 500]
            assert dead.attempts == 3 and dead.last_error.startswith("HTTP 500")
            statuses.append(200)
            desk = Deliveries(Outbox(db), worker)
            assert await asyncio.to_thread(desk.retry, dead.id)
            await receiver.wait_for(lambda: receiver.accepted, timeout=5)
            row = await _until_row(db, "delivered", 5)
            desk.close()
    assert len(receiver.accepted) == 1 and receiver.accepted[0].attempt == 1
    assert row.last_error is None


@pytest.mark.timeout(20)
async def test_a_receiver_refusing_the_request_dead_letters_it_at_once(tmp_path):
    db = tmp_path / "calls.db"
    async with WebhookReceiver(SECRET, lambda: 400) as receiver:
        await _store_summarized_call(db)
        async with _worker(_settings(db, receiver.url)):
            dead = await _until_row(db, "dead", 5)
    assert len(receiver.requests) == 1 and dead.attempts == 1
    assert dead.last_status == 400
