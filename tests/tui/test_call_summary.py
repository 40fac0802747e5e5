"""What past calls came to, in the console: the history filters by disposition, a call's record
shows its summary, and the operator corrects it from there, stored and audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from console.events import CallSummarized, SummaryEdited
from console.storage.db import open_db, write_event
from console.storage.history import LazyHistory
from console.tui.screens.call_record import CallRecordScreen
from console.tui.screens.summary_edit import SummaryEditScreen

from .conftest import wait_until
from .test_history import CALLS, NOW, SIZE, history_app, listed, open_history, requery

SUMMARIES = {
    "CAbook": CallSummarized(
        "CAbook", summary="Ana booked a cleaning for Tuesday at nine.", disposition="booked",
        action_items=("Send Ana a confirmation.",),
        fields=(("name", "Ana"), ("requested_time", "Tuesday at nine")), source="llm",
        at=NOW - 500),
    "CAcough": CallSummarized("CAcough", summary="A cough for a week.",
                              disposition="intake-complete", at=NOW - 100),
}


@pytest.fixture
def history(tmp_path: Path) -> LazyHistory:
    """The console's own history class over a real store with three calls, two summarized."""
    db = open_db(tmp_path / "calls.db")
    for events in CALLS.values():
        for event in events:
            write_event(db, event)
    for event in SUMMARIES.values():
        write_event(db, event)
    db.conn.commit()
    db.close()
    return LazyHistory(tmp_path / "calls.db")


def text_of(app, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).content)


async def test_the_history_lists_only_the_calls_with_the_chosen_disposition(history) -> None:
    app = history_app(history)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await wait_until(pilot, lambda: screen.dispositions)
        assert {"booked", "intake-complete", "escalated"} <= set(screen.dispositions)
        select = screen.query_one("#history-disposition", Select)
        await requery(pilot, screen, lambda: setattr(select, "value", "booked"))
        assert listed(app) == ["CAbook"]
        await requery(pilot, screen, lambda: setattr(select, "value", "escalated"))
        assert listed(app) == []
        await requery(pilot, screen, lambda: setattr(select, "value", "*"))
        assert listed(app) == ["CAbook", "CAcough", "CAurgent"]


async def test_a_call_record_shows_its_disposition_summary_action_items_and_fields(
    history,
) -> None:
    app = history_app(history)
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("enter")  # the newest call: CAbook
        await wait_until(pilot, lambda: isinstance(app.screen, CallRecordScreen)
                         and app.screen.record is not None)
        shown = text_of(app, "#record-summary")
        assert "booked" in shown and "written by the model" in shown
        assert "Ana booked a cleaning for Tuesday at nine." in shown
        assert "☐ Send Ana a confirmation." in shown
        assert "requested time: Tuesday at nine" in shown
        assert "summarized (llm): booked" in text_of(app, "#record-events")


async def test_an_operator_edit_is_stored_shown_and_audited(history) -> None:
    app = history_app(history)
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallRecordScreen)
                         and app.screen.record is not None)
        record_screen = app.screen
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, SummaryEditScreen))
        dialog = app.screen
        dialog.query_one("#edit-disposition", Select).value = "rescheduled"
        dialog.query_one("#edit-field-requested_time", Input).value = ""
        summary = dialog.query_one("#edit-summary", Input)
        summary.value = "Ana moved to Friday."
        summary.focus()
        await pilot.press("enter")  # saves
        await wait_until(pilot, lambda: any(n.startswith("Saved") for n in notes))
        await wait_until(pilot, lambda: record_screen.record.disposition == "rescheduled")
        assert notes[-1] == "Saved 3 change(s) as console"
        assert "Ana moved to Friday." in text_of(app, "#record-summary")
        assert "console changed disposition: “booked” → “rescheduled”" in text_of(
            app, "#record-events")

    call = history.get_call("CAbook")
    assert (call.summary, call.fields) == ("Ana moved to Friday.", {"name": "Ana"})
    audit = [(e.event.item, e.event.old, e.event.new, e.event.actor)
             for e in call.events if isinstance(e.event, SummaryEdited)]
    assert audit == [("summary", "Ana booked a cleaning for Tuesday at nine.",
                      "Ana moved to Friday.", "console"),
                     ("disposition", "booked", "rescheduled", "console"),
                     ("fields.requested_time", "Tuesday at nine", "", "console")]
