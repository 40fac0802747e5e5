"""A screenshot of catch-up on join (issue 15): a live call opened, its one-line brief from the
model, the operator catching up at 1.5x with both legs metered, a whisper marked in the
transcript, the caller muted. The README shows it (docs/catch-up.svg).

The meters' levels are fixed here (the sound card's side is tested in test_catch_up.py).
Update after an intended change with: pytest tests/tui/test_catch_up_snapshot.py --snapshot-update
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from textual.pilot import Pilot

from console.events import OperatorActed
from console.summary.brief import CallBrief
from console.tui.app import VoiceConsoleApp
from console.tui.audio_desk import Meters
from console.tui.screens.call_view import CallViewScreen
from console.tui.widgets.calls_table import CallsTable
from console.tui.widgets.catch_up import CatchUpBrief, ListenMeters

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend, call_script

SIZE = (120, 34)
BRIEF = "Ana is booking an appointment and was choosing between Tuesday and Thursday."


async def model_brief(call_sid: str) -> AsyncIterator[CallBrief]:
    yield CallBrief(BRIEF, "llm")


def test_a_live_call_opens_with_its_brief_and_catch_up_meters(snap_compare) -> None:
    backend = FakeBackend()
    backend.briefs = model_brief  # type: ignore[attr-defined]
    app = VoiceConsoleApp(backend, clock=frozen_clock(T0 + 95), refresh_interval=0.02)
    app.audio_desk.meters = lambda sid: Meters({"caller": -21.0, "agent": -33.5}, 8.4)  # type: ignore[method-assign]

    async def run_before(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: app.started)
        backend.play(call_script("CA1"))
        backend.play([
            OperatorActed("CA1", action="whisper", actor="console", detail="Offer Tuesday at 3",
                          at=T0 + 9.2),
            OperatorActed("CA1", action="pause-listening", actor="console", at=T0 + 9.3),
        ])
        await wait_until(pilot, lambda: app.dashboard.query_one(CallsTable).row_count == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        await wait_until(pilot, lambda: "(model)" in app.screen.query_one(CatchUpBrief)
                         .content.plain)
        await wait_until(pilot, lambda: app.screen.query_one(ListenMeters).display)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
