"""A screenshot of the dashboard ranked by risk, with the preview of the highlighted call and the
line's health, from fixed events and a frozen clock (pytest-textual-snapshot). docs/risk-board.svg
is a copy of it, shown in the README.

Update after an intended change with: pytest tests/tui/test_risk_snapshot.py --snapshot-update
"""

from __future__ import annotations

from textual.pilot import Pilot

from console.events import (
    AgentSpoke,
    CallEnded,
    CallerTranscribed,
    CallerWentQuiet,
    ProviderDegraded,
    TurnCompleted,
    TurnMeasured,
)
from console.risk import ProfileCues
from console.tui.app import VoiceConsoleApp
from console.tui.ranking import RiskSetup
from console.tui.widgets.calls_table import CallsTable

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend, call_script, emergency_script

SIZE = (120, 34)
MEDICAL = ProfileCues(("chest pain", "can't breathe", "heart attack"),
                      "I'm sorry, I'm having trouble.")


def said(sid: str, text: str, at: float) -> list:
    return [CallerTranscribed(sid, text=text, final=True, at=at - 0.2),
            TurnCompleted(sid, role="caller", text=text, started=at - 2, ended=at, at=at)]


def five_calls(backend: FakeBackend) -> None:
    backend.play(call_script("CA1", "+15551230001", t0=T0))
    backend.play([*call_script("CA2", "+15551230002", t0=T0 + 10),
                  *said("CA2", "Why is my bill so high?", T0 + 30),
                  AgentSpoke("CA2", text="Sorry, could you say that again?", at=T0 + 31),
                  *said("CA2", "Why is my bill so high? This is ridiculous.", T0 + 40),
                  *said("CA2", "I asked why my bill is so high", T0 + 52)])
    backend.play([*call_script("CA3", "+15551230003", t0=T0 + 20),
                  *said("CA3", "My husband has had chest pains since this morning", T0 + 80),
                  TurnMeasured("CA3", turn=3, stages={"voice_to_voice": 1480.0}, at=T0 + 82)])
    backend.play([*call_script("CA4", "+15551230004", t0=T0 + 5),
                  *emergency_script("CA4", t0=T0 + 5)])
    backend.play([*call_script("CA5", "+15551230005", t0=T0 + 15),
                  ProviderDegraded("CA5", provider="groq", problem="429", fallback="8b model",
                                   at=T0 + 40),
                  CallerWentQuiet("CA5", seconds=8.3, at=T0 + 60)])
    backend.play([*call_script("CA6", "+15551230006", t0=T0 + 2),
                  CallEnded("CA6", reason="caller hung up", at=T0 + 50)])


def test_the_dashboard_ranks_calls_by_risk_with_why_and_previews_the_highlighted_one(
        snap_compare) -> None:
    backend = FakeBackend()
    app = VoiceConsoleApp(backend, clock=frozen_clock(T0 + 95), refresh_interval=0.02)
    app.board.risk = RiskSetup(profile_cues=lambda name: MEDICAL)

    async def run_before(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: app.started)
        five_calls(backend)
        table = app.dashboard.query_one(CallsTable)
        await wait_until(pilot, lambda: table.row_count == 6)
        await pilot.press("a")  # the emergency's alert, acknowledged: back on the board
        await wait_until(pilot, lambda: app.screen is app.dashboard)
        table.focus()
        await pilot.press("home", "down")  # the near miss, rising
        await wait_until(pilot, lambda: table.selected_sid() == "CA3")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
