"""Screenshots of the console with fixed data and a frozen clock (pytest-textual-snapshot).

Update after an intended change with: pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from textual.pilot import Pilot

from console.events import CallEnded, DtmfPressed
from console.tui.app import VoiceConsoleApp
from console.tui.screens.alert import AlertScreen
from console.tui.screens.call_view import CallViewScreen
from console.tui.widgets.calls_table import CallsTable

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend, call_script, emergency_script

SIZE = (120, 34)


def scripted_app() -> tuple[VoiceConsoleApp, FakeBackend]:
    backend = FakeBackend()
    return VoiceConsoleApp(backend, clock=frozen_clock(T0 + 95), refresh_interval=0.02), backend


async def three_calls(pilot: Pilot, backend: FakeBackend) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.started)
    backend.play(call_script("CA1", "+15551230001"))
    backend.play(call_script("CA2", "+15551230002", t0=T0 + 30))
    backend.play([*emergency_script("CA2", t0=T0 + 30), DtmfPressed("CA2", digit="1", at=T0 + 61)])
    backend.play(call_script("CA3", "+15551230003", t0=T0 + 10))
    backend.play([CallEnded("CA3", reason="caller hung up", at=T0 + 70)])
    await wait_until(pilot, lambda: app.dashboard.query_one(CallsTable).row_count == 3)
    await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen))


def test_dashboard_lists_live_calls_with_state_latency_and_alert_flag(snap_compare) -> None:
    app, backend = scripted_app()

    async def run_before(pilot: Pilot) -> None:
        await three_calls(pilot, backend)
        await pilot.press("a")
        await wait_until(pilot, lambda: app.screen is app.dashboard)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_call_view_shows_transcript_latency_and_timeline(snap_compare) -> None:
    app, backend = scripted_app()

    async def run_before(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: app.started)
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: app.dashboard.query_one(CallsTable).row_count == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_emergency_alert_covers_the_screen_with_phrase_and_transfer_progress(snap_compare) -> None:
    app, backend = scripted_app()

    async def run_before(pilot: Pilot) -> None:
        await three_calls(pilot, backend)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
