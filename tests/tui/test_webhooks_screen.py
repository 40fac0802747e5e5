"""The console's webhook screen over a real outbox: dead letters with why, and a retry key."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable

from console.events import CallEnded, CallStarted, CallSummarized
from console.handoff.worker import Deliveries
from console.storage.db import open_db, write_event
from console.storage.outbox import Outbox, enqueue
from console.tui.app import VoiceConsoleApp
from console.tui.screens.webhooks import WebhooksScreen

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend

SIZE = (140, 30)


def dead_letter(db_path: Path, sid: str, error: str) -> int:
    """A summarized call whose delivery failed for good (as the worker records it)."""
    db = open_db(db_path)
    with db.conn:
        for event in (CallStarted(sid, "MZ1", at=T0), CallEnded(sid, "caller-hung-up", at=T0 + 9),
                      CallSummarized(sid, "Booked.", "booked", at=T0 + 10)):
            write_event(db, event)
            enqueue(db, event)
    row_id = db.execute("SELECT id FROM webhook_deliveries WHERE call_sid = ?", [sid]).fetchone()[0]
    db.close()
    with Outbox(db_path) as outbox:
        assert [row.id for row in outbox.claim_due(T0 + 20, 10, 8)] == [row_id]
        outbox.failed(row_id, error, 500, None, T0 + 20)
    return row_id


async def test_dead_letters_are_listed_with_their_error_and_r_puts_one_back_in_the_queue(tmp_path):
    db = tmp_path / "calls.db"
    row_id = dead_letter(db, "CAdead", "HTTP 500: \x1b[31mcrm down[/b]")
    backend = FakeBackend()
    backend.deliveries = Deliveries(Outbox(db), None)
    app = VoiceConsoleApp(backend, clock=frozen_clock(T0 + 60), refresh_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.started)
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, WebhooksScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.loaded)
        cells = [c.plain for c in screen.query_one(DataTable).get_row(str(row_id))]
        assert cells[1:5] == ["dead", "CAdead", "1", "-"]
        assert "crm down[/b]" in cells[5] and "\x1b" not in cells[5]
        screen.loaded = False
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.loaded and _status(screen, row_id) == "pending")
    backend.deliveries.close()
    with Outbox(db) as outbox:
        rows = outbox.list_deliveries()
    assert [(r.id, r.status, r.attempts) for r in rows] == [(row_id, "pending", 0)]


def _status(screen: WebhooksScreen, row_id: int) -> str:
    cell = screen.query_one(DataTable).get_row(str(row_id))[1]
    return cell.plain if isinstance(cell, Text) else str(cell)
