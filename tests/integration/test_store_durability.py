"""The call store keeps what it promised: across SIGKILL, while locked, and while failing."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from console.events import CallStarted, TurnCompleted, TurnMeasured
from console.storage.db import open_db
from console.storage.records import CallDetail, TurnMetrics
from console.storage.repository import CallRepository
from console.storage.writer import StoreUnavailable, StoreWriter

REPO_ROOT = Path(__file__).resolve().parents[2]

# Publishes a call and one turn, waits for flush, says so, then hangs until killed.
CRASHING_SERVER = textwrap.dedent(
    """
    import asyncio, sys, time
    from console.events import CallStarted, EventBus, TurnCompleted
    from console.storage.writer import StoreWriter

    async def main() -> None:
        writer = StoreWriter(sys.argv[1])
        writer.start()
        bus = EventBus()
        bus.subscribe(writer)
        bus.publish(CallStarted("CA-crash", stream_sid="MZ1", from_number="+15550001111"))
        now = time.time()
        bus.publish(TurnCompleted("CA-crash", role="caller", text="the boiler is making a noise",
                                  started=now - 2, ended=now))
        await writer.flush()
        print("committed", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll a condition that another thread makes true (there is no event to await)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


def stored_call(db_path: Path, sid: str) -> CallDetail:
    with CallRepository(db_path) as repo:
        call = repo.get_call(sid)
    assert call is not None, f"{sid} was not stored"
    return call


def turn(sid: str, n: int) -> TurnCompleted:
    now = time.time()
    return TurnCompleted(sid, role="caller", text=f"sentence {n}", started=now - 1, ended=now)


async def test_a_flushed_turn_survives_sigkill_and_the_call_is_interrupted_on_restart(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "calls.db"
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_SERVER, str(db_path),
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert await asyncio.wait_for(server.stdout.readline(), 30) == b"committed\n"  # type: ignore[union-attr]
    finally:
        server.send_signal(signal.SIGKILL)
        assert await server.wait() == -signal.SIGKILL

    survived = stored_call(db_path, "CA-crash")
    assert survived.status == "live"
    assert [t.text for t in survived.turns] == ["the boiler is making a noise"]

    assert await asyncio.to_thread(StoreWriter(db_path).mark_abandoned_calls) == 1
    after = stored_call(db_path, "CA-crash")
    assert (after.status, after.end_reason) == ("interrupted", "interrupted")
    assert after.ended == max(event.at for event in after.events)


async def test_a_locked_database_delays_but_does_not_lose_events(tmp_path: Path) -> None:
    db_path = tmp_path / "calls.db"
    writer = StoreWriter(db_path)
    writer.start()
    writer(CallStarted("CA-lock", stream_sid="MZ1"))
    await writer.flush()

    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    for n in range(50):
        writer(turn("CA-lock", n))
    flushed = asyncio.create_task(writer.flush(), name="flush-while-locked")
    await wait_until(lambda: writer.lock_waits >= 2)
    assert not flushed.done()

    locker.execute("COMMIT")
    locker.close()
    await asyncio.wait_for(flushed, 10)
    await writer.close()
    assert [t.idx for t in stored_call(db_path, "CA-lock").turns] == list(range(50))
    assert (writer.failures, writer.dropped) == (0, 0)


async def test_a_failing_database_keeps_events_in_memory_and_writes_them_once_it_recovers(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "calls.db"
    writer = StoreWriter(db_path)
    writer.start()
    writer(CallStarted("CA-fail", stream_sid="MZ1"))
    await writer.flush()

    await asyncio.to_thread(_rename_table, db_path, "metrics", "metrics_away")  # writes now fail
    writer(turn("CA-fail", 0))
    writer(TurnMeasured("CA-fail", turn=1, stages={"stt_final": 140.0}))
    writer(turn("CA-fail", 1))
    flushed = asyncio.create_task(writer.flush(), name="flush-while-failing")
    await wait_until(lambda: writer.failures >= 1)
    assert not flushed.done()
    assert await asyncio.to_thread(_count_turns, db_path) == 0  # the batch is all or nothing

    await asyncio.to_thread(_rename_table, db_path, "metrics_away", "metrics")
    await asyncio.wait_for(flushed, 10)
    await writer.close()
    call = stored_call(db_path, "CA-fail")
    assert [t.text for t in call.turns] == ["sentence 0", "sentence 1"]
    assert call.metrics == (TurnMetrics(turn=1, stages={"stt_final": 140.0}),)
    assert writer.dropped == 0


async def test_pending_events_are_bounded_and_the_oldest_dropped_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_path = tmp_path / "calls.db"
    writer = StoreWriter(db_path, max_pending=5)
    writer.start()
    writer(CallStarted("CA-full", stream_sid="MZ1"))
    await writer.flush()

    await asyncio.to_thread(_rename_table, db_path, "events", "events_away")
    for n in range(8):
        writer(turn("CA-full", n))
    await wait_until(lambda: writer.dropped == 3)
    await asyncio.to_thread(_rename_table, db_path, "events_away", "events")
    await writer.flush()
    await writer.close()
    texts = [t.text for t in stored_call(db_path, "CA-full").turns]
    assert texts == [f"sentence {n}" for n in range(3, 8)]
    assert "oldest events" in caplog.text


async def test_close_gives_up_after_its_grace_and_fails_other_waiting_flushes(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "calls.db"
    writer = StoreWriter(db_path)
    writer.start()
    await writer.flush()
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        writer(CallStarted("CA-never", stream_sid="MZ1"))
        # gather starts flush() before close(), so its marker is queued first.
        waited, closed = await asyncio.gather(
            writer.flush(), writer.close(grace_s=0.3), return_exceptions=True
        )
        assert isinstance(waited, StoreUnavailable)
        assert closed is None
    finally:
        locker.execute("ROLLBACK")
        locker.close()


def _rename_table(db_path: Path, old: str, new: str) -> None:
    db = open_db(db_path)
    try:
        db.execute(f"ALTER TABLE {old} RENAME TO {new}")
    finally:
        db.close()


def _count_turns(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
    finally:
        conn.close()
