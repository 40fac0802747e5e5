"""In a fleet the recorder alone writes history: a media worker starting on a data folder does
not call another process's live calls interrupted, and its own calls reach history only through
the fleet's stream."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from console import events as ev
from console.storage.db import open_db, write_event
from tests.integration.conftest import Watch, spoken, start_cloud_stack, stop_cloud_stack

ELSEWHERE = "CA" + "9" * 32


def a_live_call_in(db_path: Path, sid: str) -> None:
    db = open_db(db_path)
    try:
        with db.conn:
            write_event(db, ev.CallStarted(sid, stream_sid="MZ9", profile="scheduling"))
    finally:
        db.close()


def calls_in(db_path: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return list(conn.execute("SELECT call_sid, status FROM calls"))


async def test_a_fleet_worker_leaves_live_calls_and_its_own_history_to_the_recorder(
        tmp_path, redis_server):
    db = tmp_path / "calls.db"
    await asyncio.to_thread(a_live_call_in, db, ELSEWHERE)
    stack, parts = await start_cloud_stack(tmp_path, script=["I need to move my visit"],
                                           overrides={"fleet_url": redis_server.url})
    try:
        watch = Watch(stack.runtime.bus)
        await stack.caller(spoken(), fast=True).run()
        await watch.until(lambda: watch.of("CallSummarized"))
        await stack.runtime.store.flush()
        assert watch.of("TurnCompleted", role="agent")  # a real call was answered here
    finally:
        await stop_cloud_stack(parts)

    assert await asyncio.to_thread(calls_in, db) == [(ELSEWHERE, "live")]
