"""What the call store hands out (console/storage/records.py): frozen records, stored events
decoded into their types, and rows from another version loaded as stored instead of failing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from console.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    CallSummarized,
    SummaryEdited,
    TurnCompleted,
    TurnMeasured,
)
from console.storage.db import open_db, write_event
from console.storage.records import CallDetail
from console.storage.repository import CallRepository

T0 = 1_700_000_000.0

PUBLISHED: list[CallEvent] = [
    CallStarted("CA1", stream_sid="MZ1", from_number="+1555", to_number="+1666",
                profile="scheduling", at=T0),
    TurnCompleted("CA1", role="caller", text="a cleaning please", started=T0 + 1, ended=T0 + 2,
                  at=T0 + 2),
    TurnMeasured("CA1", turn=1, stages={"stt_final": 180.0, "voice_to_voice": 900.5},
                 at=T0 + 3),
    CallEnded("CA1", reason="caller-hangup", at=T0 + 10),
    CallSummarized("CA1", summary="Booked.", disposition="booked",
                   action_items=("send a reminder",), fields=(("name", "Ana"),), at=T0 + 11),
    SummaryEdited("CA1", item="disposition", old="booked", new="cancelled", actor="alice",
                  at=T0 + 12),
]


def store(db_path: Path, events: list[CallEvent],
          raw: tuple[tuple[str, str, float], ...] = ()) -> None:
    """Write `events` as the store writer does, then `raw` (kind, payload JSON, at) event rows
    as another version of the console might have left them."""
    db = open_db(db_path)
    for event in events:
        write_event(db, event)
    for kind, payload, at in raw:
        db.execute("INSERT INTO events (call_sid, kind, payload, at) VALUES ('CA1', ?, ?, ?)",
                   [kind, payload, at])
    db.conn.commit()
    db.close()


def read(db_path: Path) -> CallDetail:
    with CallRepository(db_path) as repo:
        call = repo.get_call("CA1")
    assert call is not None
    return call


def test_a_stored_call_is_a_frozen_record_whose_collections_cannot_be_changed(
    tmp_path: Path,
) -> None:
    store(tmp_path / "calls.db", PUBLISHED)
    call = read(tmp_path / "calls.db")
    assert (call.status, call.disposition, call.turn_count, call.duration) == (
        "ended", "cancelled", 1, 10.0)
    assert call.action_items == ("send a reminder",) and call.fields == {"name": "Ana"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.status = "live"
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.turns[0].text = "something else"
    with pytest.raises(TypeError):  # its mappings are read-only views
        call.fields["name"] = "Eve"
    with pytest.raises(TypeError):
        call.events[0].payload["profile"] = "other"
    with pytest.raises(AttributeError):  # and its sequences tuples
        call.turns.append(call.turns[0])


def test_every_stored_event_decodes_back_into_the_event_that_was_published(
    tmp_path: Path,
) -> None:
    """Tuples stored as JSON arrays (action items, fields) come back as tuples, a dict of
    stages as a dict: the decoded event equals the published one."""
    store(tmp_path / "calls.db", PUBLISHED)
    events = read(tmp_path / "calls.db").events
    assert [stored.event for stored in events] == PUBLISHED
    assert [stored.kind for stored in events] == [event.kind for event in PUBLISHED]


def test_event_rows_another_version_wrote_load_with_their_raw_payload_and_no_event(
    tmp_path: Path,
) -> None:
    raw = (
        ("CallerMoodMeasured", '{"mood": "calm"}', T0 + 4),  # a kind this version lacks
        ("CallEnded", '{"why": "hangup"}', T0 + 5),  # a field renamed since
        ("TurnMeasured", '{"turn": "one", "stages": {}}', T0 + 6),  # a field of another type
        ("DtmfPressed", '["5"]', T0 + 7),  # not even an object
        ("CallEnded", "", T0 + 8),  # no payload at all: its reason is missing
    )
    store(tmp_path / "calls.db", PUBLISHED[:1], raw)
    events = read(tmp_path / "calls.db").events[1:]
    assert [(e.kind, e.event) for e in events] == [(kind, None) for kind, _, _ in raw]
    assert [dict(e.payload) for e in events] == [
        {"mood": "calm"}, {"why": "hangup"}, {"turn": "one", "stages": {}}, {"value": ["5"]}, {}]


def test_the_json_export_keeps_every_column_in_the_order_the_rows_had(tmp_path: Path) -> None:
    """The export is what the rows held: call columns in table order, then the counts, then
    turns, events and metrics (each turn and event with its own columns)."""
    store(tmp_path / "calls.db", PUBLISHED)
    with CallRepository(tmp_path / "calls.db") as repo:
        repo.export_calls_json(tmp_path / "calls.json")
    (call,) = json.loads((tmp_path / "calls.json").read_text(encoding="utf-8"))
    db = open_db(tmp_path / "calls.db")
    columns = [column.name for column in db.table("calls").columns]
    db.close()
    assert list(call) == [*columns, "turn_count", "duration", "turns", "events", "metrics"]
    assert list(call["turns"][0]) == ["id", "call_sid", "idx", "role", "text", "started", "ended",
                                      "interrupted"]
    assert call["events"][4] == {"id": 5, "kind": "CallSummarized", "at": T0 + 11, "payload": {
        "summary": "Booked.", "disposition": "booked", "action_items": ["send a reminder"],
        "fields": [["name", "Ana"]], "source": "rules"}}
    assert call["metrics"] == [{"turn": 1, "stages": {"stt_final": 180.0,
                                                       "voice_to_voice": 900.5}}]
    assert (call["action_items"], call["fields"]) == (["send a reminder"], {"name": "Ana"})
