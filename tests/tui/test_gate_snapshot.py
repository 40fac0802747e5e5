"""A screenshot of the call view with a gated reply waiting for the operator (issue 15:
approve-before-speak): the proposed words, why they wait, how long the caller has been holding,
and the keys. The README shows this screen (docs/gated-reply.svg, a copy of the snapshot).

Update after an intended change with: pytest tests/tui/test_gate_snapshot.py --snapshot-update
"""

from __future__ import annotations

from textual.pilot import Pilot

from console.events import AgentSpoke
from console.tui.app import VoiceConsoleApp
from console.tui.screens.call_view import CallViewScreen
from console.tui.widgets.calls_table import CallsTable
from console.tui.widgets.proposal import ProposalPanel

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend, call_script
from .test_gated_replies import ANSWER, streamed

SIZE = (120, 34)


def test_call_view_shows_a_gated_reply_waiting_with_its_reason_wait_and_keys(snap_compare):
    backend = FakeBackend()
    app = VoiceConsoleApp(backend, clock=frozen_clock(T0 + 95), refresh_interval=0.02)

    async def run_before(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: app.started)
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: app.dashboard.query_one(CallsTable).row_count == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        backend.play([*streamed("CA1", ANSWER, T0 + 88),
                      AgentSpoke("CA1", text="Let me check that for you.", at=T0 + 89)])
        await wait_until(pilot, lambda: app.screen.query_one(ProposalPanel).display)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
