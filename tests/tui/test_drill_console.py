"""Drills in the console (issue 15): a drill's call is marked on the board, and what a drill
measures as acknowledgement (`a` on the alert, opening the call) reaches CallControl."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from console.events import DrillCallStarted
from console.tui.app import VoiceConsoleApp
from console.tui.screens.alert import AlertScreen
from console.tui.screens.call_view import CallViewScreen
from console.tui.widgets.calls_table import CallsTable

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend, call_script, emergency_script

SIZE = (120, 36)


def make_app(backend: FakeBackend) -> VoiceConsoleApp:
    async def acknowledge(call_sid: str, actor: str, how: str = "") -> None:
        await backend.control._record("acknowledge", call_sid, actor, how)

    backend.control.acknowledge = acknowledge  # the real control's method (calls/live.py)
    return VoiceConsoleApp(backend, clock=frozen_clock(), refresh_interval=0.02)


def caller_cell(app: VoiceConsoleApp, sid: str) -> str:
    table = app.dashboard.query_one(CallsTable)
    value: Any = table.get_cell(sid, "caller") if sid in set(table.sids) else ""
    return value.plain if isinstance(value, Text) else str(value)


def acknowledged(backend: FakeBackend) -> list[tuple]:
    return [call for call in backend.control.calls if call[0] == "acknowledge"]


async def test_a_drill_call_shows_as_a_drill_with_its_scenario_instead_of_a_number(backend):
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        backend.play(call_script("CA2", caller="+15551230002"))
        backend.play([DrillCallStarted("CA2", drill="drill-x", scenario="chest-pain",
                                       at=T0 + 1)])
        await wait_until(pilot, lambda: caller_cell(app, "CA2") == "DRILL chest-pain")
        assert caller_cell(app, "CA1") == "+15551230001"  # a real call stays as it was


async def test_the_alert_key_and_opening_a_call_are_recorded_as_acknowledgements(backend):
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        backend.play(emergency_script("CA1"))
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen))
        await pilot.press("a")
        await wait_until(pilot, lambda: acknowledged(backend))
        assert acknowledged(backend) == [("acknowledge", "CA1", "alert", app.actor)]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        await wait_until(pilot, lambda: len(acknowledged(backend)) == 2)
        assert acknowledged(backend)[1] == ("acknowledge", "CA1", "opened", app.actor)
