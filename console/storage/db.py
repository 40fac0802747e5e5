"""The SQLite schema for calls, turns, events and metrics, how a connection is opened, and how
each event becomes rows.

Every connection (the writer's, each reader's) goes through `open_db`, which switches the file to
WAL (readers never wait for the writer, and the writer never waits for readers) and brings the
schema up to date. Migrations are numbered; the number reached is kept in `schema_version`, so
opening an up-to-date database performs no writes at all.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from console.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    CallSummarized,
    DrillCallStarted,
    EmergencyDetected,
    RecordingSaved,
    SummaryEdited,
    TurnCompleted,
    TurnMeasured,
)
from console.storage.files import private_database

log = logging.getLogger(__name__)

# A reader or a second writer waits this long for a lock before SQLite reports "database is
# locked". The writer thread sets its own, shorter value and retries with backoff instead.
DEFAULT_BUSY_TIMEOUT_S = 5.0

CALL_STATUSES = ("live", "ended", "interrupted")
OUTBOX_TABLE = "webhook_deliveries"  # the end-of-call webhook's outbox (storage/outbox.py)
DRILLS_TABLE = "drills"  # issue 15: drill reports (storage/drills.py)


def open_db(
    path: Path | str,
    *,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
    check_same_thread: bool = True,
) -> Database:
    """Open (creating if needed) the call store at `path`, in WAL mode, with the current schema.
    Blocking: call it from a thread, never from the event loop. The file and its folder are made
    private first (files.py): SQLite gives the -wal and -shm files the database file's mode."""
    path = private_database(path)
    conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=check_same_thread)
    try:
        db = Database(conn, execute_plugins=False)
        _configure(db)
        ensure_schema(db)
    except BaseException:
        conn.close()
        raise
    return db


def _configure(db: Database) -> None:
    db.enable_wal()
    # NORMAL in WAL mode: a commit survives the process being killed (tested with SIGKILL);
    # only an OS crash or power loss can lose the last batch. The fsync per commit that FULL
    # adds would only slow the writer thread, never the event loop, but buys little here.
    db.execute("PRAGMA synchronous=NORMAL")


def schema_version(db: Database) -> int:
    """The number of the last migration applied (0 for an empty file)."""
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def ensure_schema(db: Database) -> int:
    """Apply pending migrations, each in its own IMMEDIATE transaction so that two processes
    opening a new file at once cannot both apply the same step. Returns the schema version."""
    for version, migrate in enumerate(MIGRATIONS, start=1):
        if schema_version(db) >= version:
            continue
        _apply(db, version, migrate)
    return schema_version(db)


def _apply(db: Database, version: int, migrate: Callable[[Database], None]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        if schema_version(db) < version:  # another process may have won the race
            migrate(db)
            db.execute(
                "INSERT INTO schema_version (version, applied) VALUES (?, ?)",
                [version, time.time()],
            )
            log.info("call store schema migrated to version %d", version)
        db.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise


def _migration_1(db: Database) -> None:
    """Calls, turns (with full-text search), the audit log of events, and per-turn metrics."""
    db.table("schema_version").create({"version": int, "applied": float}, pk="version")
    _create_calls(db)
    _create_turns(db)
    db.table("events").create(
        {"id": int, "call_sid": str, "kind": str, "payload": str, "at": float},
        pk="id",
        not_null=["call_sid", "kind", "at"],
    )
    db.table("metrics").create(
        {"id": int, "call_sid": str, "turn": int, "stage": str, "ms": float},
        pk="id",
        not_null=["call_sid", "turn", "stage"],
    )
    # (call_sid, idx) also serves "the next idx for this call" on every turn insert.
    db.table("turns").create_index(["call_sid", "idx"], if_not_exists=True)
    for table in ("events", "metrics"):
        db.table(table).create_index(["call_sid"], if_not_exists=True)


def _create_calls(db: Database) -> None:
    db.table("calls").create(
        {
            "call_sid": str,
            "stream_sid": str,
            "from_number": str,
            "to_number": str,
            "profile": str,
            "started": float,
            "ended": float,
            "end_reason": str,
            "status": str,
            "emergency": int,
        },
        pk="call_sid",
        not_null=["status", "emergency"],
        defaults={"status": "live", "emergency": 0},
    )
    db.table("calls").create_index(["started"], if_not_exists=True)
    db.table("calls").create_index(["status"], if_not_exists=True)


def _create_turns(db: Database) -> None:
    db.table("turns").create(
        {
            "id": int,
            "call_sid": str,
            "idx": int,
            "role": str,
            "text": str,
            "started": float,
            "ended": float,
            "interrupted": int,
        },
        pk="id",
        not_null=["call_sid", "idx", "role", "text", "interrupted"],
        defaults={"interrupted": 0},
    )
    # Triggers keep turns_fts in step with every insert, update and delete on turns.
    db.table("turns").enable_fts(["text"], create_triggers=True)


def _migration_2(db: Database) -> None:
    """After the call (issue 14): where the recording is, and what the call came to. The action
    items and fields are JSON (a list of strings; an object of name -> value)."""
    calls = db.table("calls")
    calls.add_column("recording_path", str)
    calls.add_column("recording_seconds", float)
    for column in ("summary", "disposition", "action_items", "fields", "summary_source"):
        calls.add_column(column, str)
    calls.create_index(["disposition"], if_not_exists=True)


def _migration_webhook_outbox(db: Database) -> None:
    """The end-of-call webhook's outbox (issue 14). `body` stays NULL until the first attempt
    builds it from the stored call; then it is kept, so every retry sends the same bytes."""
    db.table(OUTBOX_TABLE).create(
        {
            "id": int,
            "idempotency_key": str,
            "call_sid": str,
            "kind": str,
            "status": str,
            "attempts": int,
            "next_attempt_at": float,
            "last_error": str,
            "last_status": int,
            "body": str,
            "created": float,
            "updated": float,
            "delivered_at": float,
        },
        pk="id",
        not_null=["idempotency_key", "call_sid", "kind", "status", "attempts", "next_attempt_at"],
        defaults={"status": "pending", "attempts": 0},
    )
    db.table(OUTBOX_TABLE).create_index(["idempotency_key"], unique=True, if_not_exists=True)
    db.table(OUTBOX_TABLE).create_index(["status", "next_attempt_at"], if_not_exists=True)


def _migration_drills(db: Database) -> None:
    """Drills (issue 15, part 5): which drill a call belonged to (NULL: a real call), and each
    drill's report (console/storage/drills.py), the whole of it as JSON in `report`."""
    db.table("calls").add_column("drill", str)
    db.table(DRILLS_TABLE).create(
        {"drill_id": str, "started": float, "ended": float, "score": int, "misses": int,
         "scenarios": int, "operator": str, "report": str},
        pk="drill_id", not_null=["started", "report"],
    )
    db.table(DRILLS_TABLE).create_index(["started"], if_not_exists=True)


def _migration_fleet_ids(db: Database) -> None:
    """Issue 17: the id an event had on the fleet's stream, unique where set, so the recorder
    stores each once (console/storage/fleet_ids.py). NULL for a single process's rows."""
    db.table("events").add_column("fleet_id", str)
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS events_fleet_id ON events (fleet_id) "
               "WHERE fleet_id IS NOT NULL")


# Append only: never edit a migration that has shipped, add the next one instead.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    _migration_1, _migration_2,
    _migration_webhook_outbox,  # issue 14 webhook (console/storage/outbox.py)
    _migration_drills,  # issue 15 drills (console/storage/drills.py)
    _migration_fleet_ids,  # issue 17: each fleet event stored once (storage/fleet_ids.py)
)
SCHEMA_VERSION = len(MIGRATIONS)


# ---------------------------------------------------------------------------- events -> rows
# Run on the writer thread, inside its transaction.


def write_event(db: Database, event: CallEvent, fleet_id: str | None = None) -> None:
    """Map one event to its rows. Runs inside the writer's transaction. `fleet_id`: the id the
    event had on the fleet's stream (the recorder's; None in a single process)."""
    event = _storable(event)
    row_writer = _ROW_WRITERS.get(type(event))
    if row_writer is not None:
        row_writer(db, event)
    db.execute(
        "INSERT INTO events (call_sid, kind, payload, at, fleet_id) VALUES (?, ?, ?, ?, ?)",
        [event.call_sid, event.kind, _payload_json(event), event.at, fleet_id],
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(event: CallEvent) -> CallEvent:
    """A lone surrogate (which JSON can carry, but is no character) makes SQLite refuse the
    whole row, and the event would be lost: such text is stored with U+FFFD instead, in plain
    fields and inside tuples (a summary's fields and action items) alike."""
    # The fields of whichever event this is: typed per event class, so Any here.
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if (clean := _characters_only(value)) is not value:
            changes[f.name] = clean
    return dataclasses.replace(event, **changes) if changes else event


def _characters_only(value: Any) -> Any:
    """`value` itself when it holds no lone surrogate, else a copy with each one replaced."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, tuple):
        items = tuple(_characters_only(item) for item in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def _payload_json(event: CallEvent) -> str:
    # default=str: an odd payload value must never make its event unstorable.
    return json.dumps(event.payload(), default=str, ensure_ascii=False)


def _call_started(db: Database, event: CallStarted) -> None:
    # A second start for the same call (its media stream reconnected) revives the row and keeps
    # the first start time.
    db.execute(
        """INSERT INTO calls (call_sid, stream_sid, from_number, to_number, profile, started,
                              status, emergency)
           VALUES (?, ?, ?, ?, ?, ?, 'live', 0)
           ON CONFLICT(call_sid) DO UPDATE SET stream_sid = excluded.stream_sid,
               from_number = excluded.from_number, to_number = excluded.to_number,
               profile = excluded.profile, status = 'live', ended = NULL, end_reason = NULL""",
        [
            event.call_sid,
            event.stream_sid,
            event.from_number,
            event.to_number,
            event.profile,
            event.at,
        ],
    )


def _call_ended(db: Database, event: CallEnded) -> None:
    db.execute(
        "UPDATE calls SET ended = ?, end_reason = ?, status = 'ended' WHERE call_sid = ?",
        [event.at, event.reason, event.call_sid],
    )


def _turn_completed(db: Database, event: TurnCompleted) -> None:
    db.execute(
        """INSERT INTO turns (call_sid, idx, role, text, started, ended, interrupted)
           SELECT ?, COALESCE(MAX(idx), -1) + 1, ?, ?, ?, ?, ? FROM turns WHERE call_sid = ?""",
        [
            event.call_sid,
            event.role,
            event.text,
            event.started,
            event.ended,
            int(event.interrupted),
            event.call_sid,
        ],
    )


def _turn_measured(db: Database, event: TurnMeasured) -> None:
    rows = [(event.call_sid, event.turn, stage, ms) for stage, ms in event.stages.items()]
    db.conn.executemany("INSERT INTO metrics (call_sid, turn, stage, ms) VALUES (?, ?, ?, ?)", rows)


def _emergency_detected(db: Database, event: EmergencyDetected) -> None:
    db.execute("UPDATE calls SET emergency = 1 WHERE call_sid = ?", [event.call_sid])


def _recording_saved(db: Database, event: RecordingSaved) -> None:
    db.execute(
        "UPDATE calls SET recording_path = ?, recording_seconds = ? WHERE call_sid = ?",
        [event.path, event.seconds, event.call_sid],
    )


def _call_summarized(db: Database, event: CallSummarized) -> None:
    db.execute(
        """UPDATE calls SET summary = ?, disposition = ?, action_items = ?, fields = ?,
               summary_source = ? WHERE call_sid = ?""",
        [event.summary, event.disposition,
         json.dumps(list(event.action_items), ensure_ascii=False),
         json.dumps(dict(event.fields), ensure_ascii=False), event.source, event.call_sid],
    )


def _summary_edited(db: Database, event: SummaryEdited) -> None:
    """The correction itself; its events row (written after this) is the audit."""
    if event.item in ("summary", "disposition"):
        db.execute(f"UPDATE calls SET {event.item} = ? WHERE call_sid = ?",  # noqa: S608 - two names
                   [event.new, event.call_sid])
    elif event.item.startswith("fields."):
        _edit_field(db, event.call_sid, event.item.removeprefix("fields."), event.new)
    else:
        raise ValueError(f"not an editable item: {event.item!r}")  # dropped as unstorable


def _edit_field(db: Database, call_sid: str, name: str, value: str) -> None:
    path = "$." + json.dumps(name)  # a quoted JSON path key: any name is one key
    if value:
        sql = "UPDATE calls SET fields = json_set(COALESCE(fields, '{}'), ?, ?) WHERE call_sid = ?"
        db.execute(sql, [path, value, call_sid])
    else:
        sql = "UPDATE calls SET fields = json_remove(COALESCE(fields, '{}'), ?) WHERE call_sid = ?"
        db.execute(sql, [path, call_sid])


_ROW_WRITERS: dict[type, Callable[[Database, Any], None]] = {
    CallStarted: _call_started,
    CallEnded: _call_ended,
    TurnCompleted: _turn_completed,
    TurnMeasured: _turn_measured,
    EmergencyDetected: _emergency_detected,
    RecordingSaved: _recording_saved,
    CallSummarized: _call_summarized,
    SummaryEdited: _summary_edited,
}


# --- drills (issue 15, part 5) -------------------------------------------------------------------
def _drill_call_started(db: Database, event: DrillCallStarted) -> None:
    db.execute("UPDATE calls SET drill = ? WHERE call_sid = ?", [event.drill, event.call_sid])


_ROW_WRITERS[DrillCallStarted] = _drill_call_started


def mark_abandoned(db: Database, reason: str = "interrupted",
                   only: frozenset[str] | None = None) -> int:
    """Calls still `live` belong to a process that died: mark them `interrupted`, ending them at
    their last recorded event (not now, which may be days later). Returns how many. `only`: just
    these calls (a fleet's recorder names those no live worker runs)."""
    sql = """UPDATE calls SET status = 'interrupted', end_reason = ?,
               ended = COALESCE(
                   (SELECT MAX(at) FROM events WHERE events.call_sid = calls.call_sid), started)
           WHERE status = 'live'"""
    if only is None:
        return db.execute(sql, [reason]).rowcount
    return sum(db.execute(sql + " AND call_sid = ?", [reason, sid]).rowcount for sid in only)
