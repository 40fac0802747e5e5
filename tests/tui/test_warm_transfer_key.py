"""Warm transfer from the console (issue 15): shift+x picks a target like x, and warm-transfers."""

from __future__ import annotations

from textual.widgets import Label, OptionList

from console.tui.app import VoiceConsoleApp
from console.tui.screens.transfer import TransferScreen
from console.tui.widgets.calls_table import CallsTable

from .conftest import frozen_clock, wait_until
from .fakes import FakeBackend, call_script

SIZE = (120, 36)


def _app(backend: FakeBackend) -> VoiceConsoleApp:
    return VoiceConsoleApp(backend, clock=frozen_clock(), refresh_interval=0.02)


def _done(backend: FakeBackend, action: str) -> list[tuple]:
    return [call for call in backend.control.calls if call[0] == action]


async def test_shift_x_warm_transfers_to_the_chosen_target_and_x_stays_a_cold_transfer(backend):
    app = _app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))  # a "scheduling" call: default, front desk, billing
        await wait_until(pilot, lambda: "CA1" in app.dashboard.query_one(CallsTable).sids)
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, TransferScreen))
        title = app.screen.query_one(".dialog-title", Label).content.plain
        assert title.startswith("Warm transfer (hold, brief, then join)")
        assert app.screen.query_one(OptionList).option_count == 3
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: _done(backend, "warm_transfer"))
        assert _done(backend, "warm_transfer") == [("warm_transfer", "CA1", "billing", "console")]
        assert _done(backend, "transfer") == []
        await pilot.press("x")  # one key, as before: a cold transfer
        await wait_until(pilot, lambda: isinstance(app.screen, TransferScreen))
        assert app.screen.query_one(".dialog-title", Label).content.plain.startswith("Transfer ")
        await pilot.press("enter")
        await wait_until(pilot, lambda: _done(backend, "transfer"))
        assert _done(backend, "transfer") == [("transfer", "CA1", "default", "console")]
        assert len(_done(backend, "warm_transfer")) == 1
