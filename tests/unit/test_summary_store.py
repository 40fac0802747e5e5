"""What a call came to, in the store: listed and filtered by disposition, exported, and corrected by
an operator with an audit row (who, when, what, old, new); from the CLI too."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from console.cli import main
from console.events import CallEnded, CallStarted, CallSummarized, TurnCompleted
from console.runtime import LazyHistory
from console.storage.db import open_db, write_event
from console.storage.edits import InvalidEdit
from console.storage.repository import CallRepository

T0 = 1_700_000_000.0
FORMULA = '=HYPERLINK("https://evil.example","call me")'


def a_call(sid: str, at: float, disposition: str, summary: str) -> list:
    return [
        CallStarted(sid, stream_sid=f"MZ{sid}", from_number="+15550001111", profile="scheduling",
                    at=at),
        TurnCompleted(sid, role="caller", text="book me in", started=at, ended=at + 1, at=at + 1),
        CallEnded(sid, reason="caller hung up", at=at + 30),
        CallSummarized(sid, summary=summary, disposition=disposition,
                       action_items=("Confirm Tuesday.",),
                       fields=(("requested_time", "Tuesday at ten"), ("name", "Ana")),
                       source="rules", at=at + 31),
    ]


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "voiceconsole.db"
    db = open_db(path)
    for event in (*a_call("CAbooked", T0, "booked", "Ana booked Tuesday at ten."),
                  *a_call("CAlater", T0 + 60, "needs-callback", FORMULA)):
        write_event(db, event)
    db.conn.commit()
    db.close()
    monkeypatch.setenv("VOICECONSOLE_DATA_DB", str(path))
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree
    return path


def test_calls_are_filtered_by_disposition(db_path: Path) -> None:
    with CallRepository(db_path) as repository:
        assert [c.call_sid for c in repository.list_calls(disposition="booked")] == ["CAbooked"]
        (call,) = repository.list_calls(disposition="needs-callback")
    assert call.fields == {"requested_time": "Tuesday at ten", "name": "Ana"}
    assert call.action_items == ("Confirm Tuesday.",)


def test_the_csv_export_carries_disposition_and_summary_with_formulas_neutralized(
    db_path: Path, tmp_path: Path
) -> None:
    with CallRepository(db_path) as repository:
        repository.export_calls_csv(tmp_path / "calls.csv")
    with (tmp_path / "calls.csv").open(encoding="utf-8") as exported:
        rows = {row["call_sid"]: row for row in csv.DictReader(exported)}
    assert rows["CAbooked"]["disposition"] == "booked"
    assert rows["CAbooked"]["summary"] == "Ana booked Tuesday at ten."
    assert rows["CAlater"]["summary"] == "'" + FORMULA  # shown as text, never run


def test_an_operator_edit_is_stored_and_audited_with_who_when_old_and_new(db_path: Path) -> None:
    history = LazyHistory(db_path)  # no running store: the edit is its own transaction
    edits = history.edit_call("CAbooked", {"disposition": "cancelled", "summary": "Ana booked.",
                                           "fields.requested_time": "Friday at two"}, "alice")
    assert [e.item for e in edits] == ["disposition", "summary", "fields.requested_time"]
    call = history.get_call("CAbooked")
    assert (call.disposition, call.summary) == ("cancelled", "Ana booked.")
    assert call.fields == {"requested_time": "Friday at two", "name": "Ana"}
    audit = [e.payload for e in call.events if e.kind == "SummaryEdited"]
    assert audit[0] == {"item": "disposition", "old": "booked", "new": "cancelled",
                        "actor": "alice"}
    assert {"item": "fields.requested_time", "old": "Tuesday at ten", "new": "Friday at two",
            "actor": "alice"} in audit
    assert all(e.at >= T0 for e in call.events if e.kind == "SummaryEdited")


def test_an_edit_that_changes_nothing_writes_nothing_and_bad_edits_are_refused(db_path) -> None:
    history = LazyHistory(db_path)
    assert history.edit_call("CAbooked", {"disposition": "booked"}, "alice") == []
    with pytest.raises(InvalidEdit, match="cannot be edited"):
        history.edit_call("CAbooked", {"status": "ended"}, "alice")
    with pytest.raises(InvalidEdit, match="keeps a disposition"):
        history.edit_call("CAbooked", {"disposition": ""}, "alice")
    events = history.get_call("CAbooked").events
    assert not [e for e in events if e.kind == "SummaryEdited"]


def test_cli_lists_by_disposition_and_edits_with_the_profile_list(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "list", "--disposition", "booked", "--json"]) == 0
    assert [c["call_sid"] for c in json.loads(capsys.readouterr().out)] == ["CAbooked"]
    assert main(["calls", "edit", "CAbooked", "--disposition", "sold"]) == 1
    assert "'sold' is not a disposition of profile scheduling" in capsys.readouterr().err
    assert main(["calls", "edit", "CAbooked", "--disposition", "rescheduled",
                 "--field", "requested_time=Monday at nine", "--actor", "bob"]) == 0
    assert "disposition: booked -> rescheduled" in capsys.readouterr().out
    assert main(["calls", "show", "CAbooked"]) == 0
    shown = capsys.readouterr().out
    assert "summary (rules): rescheduled" in shown and "requested_time: Monday at nine" in shown
    assert '"actor": "bob"' in shown  # the audit row is among the call's events
