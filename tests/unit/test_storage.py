"""The call store: schema, how each event becomes rows, search, and the writer's flush promise."""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console.events import (
    AgentSpoke,
    CallEnded,
    CallerTranscribed,
    CallStarted,
    CallSummarized,
    EmergencyDetected,
    EventBus,
    ProtocolErrorCounted,
    RecordingSaved,
    TurnCompleted,
    TurnMeasured,
)
from console.storage.db import SCHEMA_VERSION, open_db, schema_version
from console.storage.records import CallDetail, TurnMetrics
from console.storage.repository import CallRepository
from console.storage.writer import StoreWriter

T0 = 1_700_000_000.0  # a fixed wall clock, so durations and ordering are exact


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "calls.db"


@pytest.fixture
async def writer(db_path: Path) -> AsyncIterator[StoreWriter]:
    store = StoreWriter(db_path)
    store.start()
    yield store
    await store.close()


@pytest.fixture
def bus(writer: StoreWriter) -> EventBus:
    events = EventBus()
    events.subscribe(writer)
    return events


def stored_call(db_path: Path, sid: str) -> CallDetail:
    with CallRepository(db_path) as repo:
        call = repo.get_call(sid)
    assert call is not None, f"{sid} was not stored"
    return call


def listed(db_path: Path, **filters: object) -> list[str]:
    with CallRepository(db_path) as repo:
        return [call.call_sid for call in repo.list_calls(**filters)]  # type: ignore[arg-type]


def started(sid: str = "CA1", at: float = T0, profile: str = "scheduling") -> CallStarted:
    return CallStarted(
        sid,
        stream_sid=f"MZ{sid}",
        from_number="+15551230000",
        to_number="+15559870000",
        profile=profile,
        at=at,
    )


def turn(sid: str, role: str, text: str, at: float, interrupted: bool = False) -> TurnCompleted:
    return TurnCompleted(
        sid, role=role, text=text, started=at - 1.5, ended=at, interrupted=interrupted, at=at
    )


def rows(db_path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------------------- schema


def test_opening_a_new_file_creates_the_schema_in_wal_mode_and_reopening_changes_nothing(
    db_path: Path,
) -> None:
    first = open_db(db_path)
    assert schema_version(first) == SCHEMA_VERSION
    assert first.journal_mode == "wal"
    assert {"calls", "turns", "events", "metrics", "turns_fts"} <= set(first.table_names())
    first.close()
    again = open_db(db_path)
    assert schema_version(again) == SCHEMA_VERSION
    assert rows(db_path, "SELECT COUNT(*) FROM schema_version") == [(SCHEMA_VERSION,)]
    again.close()


# ---------------------------------------------------------------------------- mapping


async def test_call_started_creates_a_live_call_with_its_numbers_and_profile(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    await writer.flush()
    call = stored_call(db_path, "CA1")
    assert call is not None
    assert call.status == "live"
    assert (call.from_number, call.to_number) == ("+15551230000", "+15559870000")
    assert (call.profile, call.stream_sid, call.started) == ("scheduling", "MZCA1", T0)
    assert call.ended is None and call.duration is None and call.emergency is False


async def test_call_ended_records_when_and_why_and_gives_the_duration(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    bus.publish(CallEnded("CA1", reason="caller-hangup", at=T0 + 65))
    await writer.flush()
    call = stored_call(db_path, "CA1")
    assert call is not None
    assert (call.status, call.end_reason, call.ended) == (
        "ended",
        "caller-hangup",
        T0 + 65,
    )
    assert call.duration == 65


async def test_turns_are_numbered_in_order_within_each_call(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    bus.publish(started("CA2"))
    bus.publish(turn("CA1", "caller", "Hello, is this the clinic?", T0 + 2))
    bus.publish(turn("CA2", "caller", "I need to cancel", T0 + 3))
    bus.publish(turn("CA1", "agent", "Yes, how can I help?", T0 + 4, interrupted=True))
    bus.publish(turn("CA1", "operator", "This is Sam, taking over.", T0 + 6))
    await writer.flush()
    turns = stored_call(db_path, "CA1").turns
    assert [(t.idx, t.role, t.interrupted) for t in turns] == [
        (0, "caller", False),
        (1, "agent", True),
        (2, "operator", False),
    ]
    assert turns[1].text == "Yes, how can I help?"
    assert (turns[1].started, turns[1].ended) == (T0 + 2.5, T0 + 4)
    assert [t.idx for t in stored_call(db_path, "CA2").turns] == [0]


async def test_turn_measured_stores_one_row_per_stage_grouped_by_turn(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    bus.publish(TurnMeasured("CA1", turn=1, stages={"stt_final": 180.0, "llm_first_token": 240.5}))
    bus.publish(TurnMeasured("CA1", turn=2, stages={"stt_final": 150.0}))
    await writer.flush()
    assert rows(db_path, "SELECT COUNT(*) FROM metrics") == [(3,)]
    assert stored_call(db_path, "CA1").metrics == (
        TurnMetrics(turn=1, stages={"stt_final": 180.0, "llm_first_token": 240.5}),
        TurnMetrics(turn=2, stages={"stt_final": 150.0}),
    )


async def test_emergency_detected_flags_the_call(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    bus.publish(
        EmergencyDetected("CA1", source="caller", phrase="chest pain", text="I have chest pain")
    )
    await writer.flush()
    assert stored_call(db_path, "CA1").emergency is True


async def test_a_calls_recording_and_summary_are_stored_with_it(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    bus.publish(RecordingSaved("CA1", path="/rec/CA1.wav", seconds=42.5, at=T0 + 43))
    bus.publish(CallSummarized(
        "CA1", summary="Booked a cleaning.", disposition="booked",
        action_items=("send a reminder",), fields=(("name", "Ana"), ("time", "Tue 3 pm")),
        source="rules", at=T0 + 44))
    await writer.flush()

    call = stored_call(db_path, "CA1")
    assert (call.recording_path, call.recording_seconds) == ("/rec/CA1.wav", 42.5)
    assert (call.summary, call.disposition) == ("Booked a cleaning.", "booked")
    assert call.action_items == ("send a reminder",)
    assert call.fields == {"name": "Ana", "time": "Tue 3 pm"}
    assert call.summary_source == "rules"


async def test_every_event_is_kept_in_the_audit_log_with_its_payload(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    published = [
        started("CA1"),
        turn("CA1", "caller", "hi", T0 + 1),
        AgentSpoke("CA1", text="Hello!", at=T0 + 2),
        TurnMeasured("CA1", turn=1, stages={"stt_final": 90.0}, at=T0 + 3),
        EmergencyDetected("CA1", source="agent", phrase="fire", text="there is a fire", at=T0 + 4),
        CallEnded("CA1", reason="hangup", at=T0 + 5),
    ]
    for event in published:
        bus.publish(event)
    await writer.flush()
    events = stored_call(db_path, "CA1").events
    assert [(e.kind, e.at) for e in events] == [(e.kind, e.at) for e in published]
    assert [e.payload for e in events] == [e.payload() for e in published]


async def test_interim_transcripts_are_not_stored_but_finals_are(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    for words in ("I'd", "I'd like", "I'd like a table"):
        bus.publish(CallerTranscribed("CA1", text=words, final=False))
    bus.publish(CallerTranscribed("CA1", text="I'd like a table for two", final=True))
    await writer.flush()
    events = stored_call(db_path, "CA1").events
    transcribed = [e.payload for e in events if e.kind == "CallerTranscribed"]
    assert transcribed == [{"text": "I'd like a table for two", "final": True}]


async def test_an_event_for_an_unknown_call_is_still_stored(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(ProtocolErrorCounted("", reason="bad-json", detail="{oops", at=T0))
    await writer.flush()
    assert rows(db_path, "SELECT call_sid, kind, payload FROM events") == [
        ("", "ProtocolErrorCounted", json.dumps({"reason": "bad-json", "detail": "{oops"}))
    ]


async def test_unstorable_events_are_dropped_alone_and_counted(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    bus.publish(TurnCompleted("CA1", role="agent", text=None, started=T0, ended=T0))  # type: ignore[arg-type]
    bus.publish(TurnMeasured("CA1", turn=1, stages=None))  # type: ignore[arg-type]
    bus.publish(turn("CA1", "caller", "still here", T0 + 1))
    await writer.flush()
    assert [t.text for t in stored_call(db_path, "CA1").turns] == ["still here"]
    assert (writer.dropped, writer.failures) == (2, 2)


async def test_a_reconnected_stream_revives_the_call_and_keeps_its_first_start(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1", at=T0))
    bus.publish(CallEnded("CA1", reason="stream-dropped", at=T0 + 10))
    bus.publish(CallStarted("CA1", stream_sid="MZ-second", at=T0 + 11))
    await writer.flush()
    call = stored_call(db_path, "CA1")
    assert (call.status, call.started, call.stream_sid) == ("live", T0, "MZ-second")
    assert call.ended is None and call.end_reason is None


# ---------------------------------------------------------------------------- flush and start


async def test_flush_resolves_once_everything_published_before_it_is_readable(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    bus.publish(started("CA1"))
    for n in range(200):
        bus.publish(turn("CA1", "caller", f"utterance {n}", T0 + n))
    await asyncio.gather(writer.flush(), writer.flush())
    assert rows(db_path, "SELECT COUNT(*), MAX(idx) FROM turns") == [(200, 199)]
    assert writer.pending == 0


async def test_flush_with_nothing_published_resolves_at_once(writer: StoreWriter) -> None:
    await asyncio.wait_for(writer.flush(), 5)


async def test_events_published_before_start_wait_in_the_queue_and_are_not_interrupted(
    db_path: Path,
) -> None:
    store = StoreWriter(db_path)
    store(started("CA1"))
    assert not await asyncio.to_thread(db_path.exists)  # the subscriber never touched the disk
    store.start()
    await store.flush()
    await store.close()
    assert stored_call(db_path, "CA1").status == "live"


async def test_start_marks_calls_left_live_by_a_dead_process_as_interrupted(db_path: Path) -> None:
    earlier = StoreWriter(db_path)
    earlier.start()
    earlier(started("CA-dead"))
    earlier(turn("CA-dead", "caller", "hello?", T0 + 7))
    await earlier.flush()  # no CallEnded: as if the process died here
    await earlier.close()
    restarted = StoreWriter(db_path)
    restarted.start()
    await restarted.flush()
    await restarted.close()
    call = stored_call(db_path, "CA-dead")
    assert call is not None
    assert (call.status, call.end_reason, call.ended) == (
        "interrupted",
        "interrupted",
        T0 + 7,
    )


async def test_mark_abandoned_calls_leaves_ended_calls_alone_and_counts_what_it_changed(
    db_path: Path,
) -> None:
    store = StoreWriter(db_path, mark_abandoned_on_start=False)
    store.start()
    for event in (started("CA-live"), started("CA-done"), CallEnded("CA-done", reason="hangup")):
        store(event)
    await store.close()
    assert await asyncio.to_thread(store.mark_abandoned_calls, "server-crashed") == 1
    assert stored_call(db_path, "CA-live").end_reason == "server-crashed"
    assert stored_call(db_path, "CA-done").status == "ended"
    assert await asyncio.to_thread(store.mark_abandoned_calls) == 0


async def test_close_writes_what_is_queued_and_later_events_are_refused(db_path: Path) -> None:
    store = StoreWriter(db_path)
    store.start()
    store(started("CA1"))
    await store.close()
    store(turn("CA1", "caller", "too late", T0 + 1))
    assert stored_call(db_path, "CA1").turns == ()
    with pytest.raises(RuntimeError):
        await store.flush()


# ---------------------------------------------------------------------------- reading


async def _three_calls(bus: EventBus, writer: StoreWriter) -> None:
    bus.publish(started("CA-old", at=T0, profile="scheduling"))
    bus.publish(turn("CA-old", "caller", "I want to book a haircut", T0 + 2))
    bus.publish(CallEnded("CA-old", reason="hangup", at=T0 + 30))
    bus.publish(started("CA-mid", at=T0 + 100, profile="triage"))
    bus.publish(turn("CA-mid", "caller", "My father collapsed", T0 + 102))
    bus.publish(turn("CA-mid", "agent", "I am connecting you now", T0 + 104))
    bus.publish(EmergencyDetected("CA-mid", source="caller", phrase="collapsed", text="..."))
    bus.publish(started("CA-new", at=T0 + 200, profile="scheduling"))
    await writer.flush()


async def test_list_calls_is_newest_first_with_turn_count_and_duration(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    await _three_calls(bus, writer)
    with CallRepository(db_path) as repo:
        calls = repo.list_calls()
    assert [(c.call_sid, c.turn_count, c.duration) for c in calls] == [
        ("CA-new", 0, None),
        ("CA-mid", 2, None),
        ("CA-old", 1, 30),
    ]


async def test_list_calls_filters_by_profile_emergency_and_time_and_pages_with_limit_and_offset(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    await _three_calls(bus, writer)
    assert listed(db_path, profile="scheduling") == ["CA-new", "CA-old"]
    assert listed(db_path, emergency=True) == ["CA-mid"]
    assert listed(db_path, emergency=False) == ["CA-new", "CA-old"]
    assert listed(db_path, since=T0 + 50) == ["CA-new", "CA-mid"]
    assert listed(db_path, limit=1) == ["CA-new"]
    assert listed(db_path, limit=1, offset=1) == ["CA-mid"]
    assert listed(db_path, limit=None, offset=2) == ["CA-old"]


async def test_search_finds_a_call_by_a_word_from_one_of_its_turns(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    await _three_calls(bus, writer)
    assert listed(db_path, search="haircut") == ["CA-old"]
    assert listed(db_path, search="Connecting") == ["CA-mid"]
    assert listed(db_path, search="pizza") == []


async def test_search_treats_the_operators_text_as_words_not_query_syntax(
    bus: EventBus, writer: StoreWriter, db_path: Path
) -> None:
    await _three_calls(bus, writer)
    for text in ('"', 'book "a', "NOT", "haircut OR", "(", "*"):
        listed(db_path, search=text)  # none of these may raise an FTS syntax error
    assert listed(db_path, search='book "a haircut') == ["CA-old"]
    assert listed(db_path, search="CA-mi") == ["CA-mid"]
    assert listed(db_path, search="9870000") == ["CA-new", "CA-mid", "CA-old"]


async def test_get_call_of_an_unknown_sid_is_none(writer: StoreWriter, db_path: Path) -> None:
    await writer.flush()
    with CallRepository(db_path) as repo:
        assert repo.get_call("CA-nope") is None


async def test_exports_write_full_calls_as_json_and_one_summary_row_per_call_as_csv(
    bus: EventBus, writer: StoreWriter, db_path: Path, tmp_path: Path
) -> None:
    await _three_calls(bus, writer)
    with CallRepository(db_path) as repo:
        assert repo.export_calls_json(tmp_path / "out" / "calls.json", ["CA-mid", "CA-x"]) == 1
        assert repo.export_calls_csv(tmp_path / "calls.csv") == 3
    exported, table, leftovers = read_exports(tmp_path)
    assert [t["text"] for t in exported[0]["turns"]] == [
        "My father collapsed",
        "I am connecting you now",
    ]
    assert [(r["call_sid"], r["turn_count"], r["emergency"]) for r in table] == [
        ("CA-new", "0", "False"),
        ("CA-mid", "2", "True"),
        ("CA-old", "1", "False"),
    ]
    assert leftovers == []  # the temporary files were renamed into place


def read_exports(folder: Path) -> tuple[list[dict], list[dict], list[Path]]:
    exported = json.loads((folder / "out" / "calls.json").read_text())
    with (folder / "calls.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    return exported, table, list(folder.rglob("*.tmp"))


async def test_a_lone_surrogate_in_a_callers_field_does_not_lose_the_call(
    writer: StoreWriter, bus: EventBus, db_path: Path
) -> None:
    """JSON lets a peer send "\\ud800", which is no character: SQLite refused the row, and
    the whole CallStarted was dropped with it."""
    bus.publish(CallStarted("CA1", stream_sid="MZ1", from_number="+1555\ud800",
                            to_number="+1666", profile="scheduling", at=T0))
    bus.publish(turn("CA1", "caller", "hello \udfff there", T0 + 2))
    await writer.flush()
    call = stored_call(db_path, "CA1")
    assert call.from_number == "+1555\ufffd"
    assert rows(db_path, "SELECT text FROM turns") == [("hello \ufffd there",)]


async def test_a_lone_surrogate_inside_a_summarys_fields_does_not_lose_the_summary(
    writer: StoreWriter, bus: EventBus, db_path: Path
) -> None:
    """A summary's fields and action items are tuples of text the caller's words filled (the
    rules extract a name as said): a lone surrogate in one made SQLite refuse the summary."""
    bus.publish(started("CA1"))
    bus.publish(CallSummarized(
        "CA1", summary="Booked.", disposition="booked", action_items=("call \ud800 back",),
        fields=(("name", "An\udfffa"),), source="rules", at=T0 + 44))
    await writer.flush()
    call = stored_call(db_path, "CA1")
    assert call.summary == "Booked."
    assert call.action_items == ("call \ufffd back",)
    assert call.fields == {"name": "An\ufffda"}
