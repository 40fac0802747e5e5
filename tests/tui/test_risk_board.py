"""The dashboard ranked by risk: the riskiest live call on top with the reason why, a preview of
the highlighted call, the line's health in a header; and, over the real server, a call that
turns risky moving to the top."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from console import audio_codec as audio
from console.events import (
    AgentSpoke,
    CallEnded,
    CallerWentQuiet,
    EmergencyDetected,
    ProviderDegraded,
    TurnCompleted,
    TurnMeasured,
)
from console.runtime import Runtime
from console.simulate.caller import SimulatedCaller, Utterance
from console.tui.app import VoiceConsoleApp
from console.tui.board import CallBoard
from console.tui.widgets.call_preview import CallPreview
from console.tui.widgets.calls_table import CallsTable
from tests.integration.conftest import CloudStack, spoken, start_cloud_stack, stop_cloud_stack

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend, call_script

pytestmark = pytest.mark.timeout(30)
SIZE = (120, 34)


def caller_said(sid: str, text: str, at: float) -> TurnCompleted:
    return TurnCompleted(sid, role="caller", text=text, started=at - 1, ended=at, at=at)


def test_the_board_ranks_live_calls_by_risk_then_arrival_and_ended_calls_last() -> None:
    board = CallBoard()
    for n, sid in enumerate(("CA1", "CA2", "CA3", "CA4")):
        for event in call_script(sid, t0=T0 + n):
            board.apply(event)
    assert [c.call_sid for c in board.ranked()] == ["CA1", "CA2", "CA3", "CA4"]  # all calm
    board.apply(caller_said("CA3", "this is useless", at=T0 + 20))
    board.apply(CallerWentQuiet("CA2", seconds=8.0, at=T0 + 21))
    board.apply(CallEnded("CA1", reason="caller hung up", at=T0 + 22))
    board.apply(EmergencyDetected("CA4", source="caller", phrase="chest pain", text="",
                                  at=T0 + 23))
    assert [c.call_sid for c in board.ranked()] == ["CA4", "CA2", "CA3", "CA1"]
    assert board.get("CA2").risk.assessment.top == "caller silent 8 s"


def test_the_line_health_counts_live_calls_alerts_and_the_last_five_minutes_only() -> None:
    board = CallBoard()
    for event in [*call_script("CA1", t0=T0), *call_script("CA2", t0=T0 + 400)]:
        board.apply(event)  # each call measures 560 ms then 430 ms
    board.apply(ProviderDegraded("CA1", provider="groq", problem="429", fallback="8b",
                                 at=T0 + 10))
    board.apply(EmergencyDetected("CA2", source="caller", phrase="chest pain", text="",
                                  at=T0 + 420))
    health = board.health(now=T0 + 430)  # CA1's turns and its degraded groq are > 5 min old
    assert (health.calls_now, health.v2v_p95_ms, health.v2v_turns) == (2, 560.0, 2)
    assert (health.open_alerts, health.degraded) == (1, ())


def scripted_app() -> tuple[VoiceConsoleApp, FakeBackend]:
    backend = FakeBackend()
    return VoiceConsoleApp(backend, clock=frozen_clock(T0 + 95), refresh_interval=0.02), backend


def preview_text(app: VoiceConsoleApp) -> str:
    return str(app.dashboard.query_one(CallPreview).content)


def header_text(app: VoiceConsoleApp) -> str:
    return str(app.dashboard.query_one("#line-health").content)


async def test_an_empty_board_says_what_it_is_waiting_for() -> None:
    app, _ = scripted_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.started)
        await wait_until(pilot, lambda: "Waiting for the first call" in preview_text(app))
        assert "0 calls now" in header_text(app) and "no turns yet" in header_text(app)


async def test_the_preview_follows_the_highlight_and_the_header_sums_up_the_line() -> None:
    app, backend = scripted_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.started)
        backend.play(call_script("CA1", "+15551230001"))
        backend.play([*call_script("CA2", "+15551230002", t0=T0 + 30),
                      AgentSpoke("CA2", text="Sorry, could you say that again?", at=T0 + 41),
                      ProviderDegraded("CA2", provider="groq", problem="timeout",
                                       fallback="apology", at=T0 + 41)])
        table = app.dashboard.query_one(CallsTable)
        await wait_until(pilot, lambda: table.sids == ["CA2", "CA1"])  # the riskier on top
        assert table.get_cell("CA2", "alert").plain == "agent apologized"
        await wait_until(pilot, lambda: "+15551230002" in preview_text(app))
        assert "agent apologized (+12) · degraded: groq (+8)" in preview_text(app)
        assert "Tuesday" in preview_text(app)  # the caller's words as they come
        assert "2 calls now" in header_text(app) and "degraded: groq" in header_text(app)
        assert "v2v p95 (5 min) 560 ms over 4 turns" in header_text(app)
        table.focus()
        await pilot.press("down")
        await wait_until(pilot, lambda: "+15551230001" in preview_text(app))
        assert "nothing worrying so far" in preview_text(app)


async def test_the_board_moves_a_call_that_turns_risky_and_the_highlight_stays_on_its_call(
) -> None:
    app, backend = scripted_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.started)
        backend.play([*call_script("CA1", "+15551230001"),
                      *call_script("CA2", "+15551230002", t0=T0 + 10),
                      *call_script("CA3", "+15551230003", t0=T0 + 20),
                      CallerWentQuiet("CA1", seconds=8.0, at=T0 + 40),  # 20
                      AgentSpoke("CA2", text="Sorry, could you say that again?", at=T0 + 41)])
        table = app.dashboard.query_one(CallsTable)
        await wait_until(pilot, lambda: table.sids == ["CA1", "CA2", "CA3"])
        table.focus()
        await pilot.press("down")  # the operator reads CA2
        await wait_until(pilot, lambda: "+15551230002" in preview_text(app))
        backend.play([  # CA2 wobbles 6 points past CA1 (12 + 8 + 6); CA3 turns clearly risky
            ProviderDegraded("CA2", provider="groq", problem="429", fallback="8b", at=T0 + 80),
            TurnMeasured("CA2", turn=2, stages={"voice_to_voice": 1500.0}, at=T0 + 81),
            CallerWentQuiet("CA3", seconds=9.0, at=T0 + 82),
            CallerWentQuiet("CA3", seconds=9.0, at=T0 + 90)])  # 40: yellow
        await wait_until(pilot, lambda: table.sids[0] == "CA3")
        assert table.sids == ["CA3", "CA1", "CA2"]  # CA2, 26, stays under CA1, 20
        assert table.get_cell("CA3", "risk").plain == "▲  40"
        assert table.get_cell("CA3", "alert").plain == "caller silent 9 s (2×)"
        assert table.selected_sid() == "CA2"  # moved down a line, the highlight with it
        assert "+15551230002" in preview_text(app)


# -- over the real server -----------------------------------------------------------------------


class AttachedRuntime:
    """The console's backend over a runtime start_cloud_stack already started, with its settings
    and profiles (what the risk score reads), as `voiceconsole` hands the runtime itself."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.settings, self.profiles = runtime, runtime.settings, runtime.profiles
        self.bus, self.control = runtime.bus, runtime.control
        self.history, self.listen_in = runtime.history, runtime.listen_in

    async def start(self, progress) -> None:
        progress("server", f"listening on {self.runtime.server.url}")

    async def stop(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return self.runtime.status()


@pytest.fixture
async def stack(tmp_path) -> AsyncIterator[CloudStack]:
    made, parts = await start_cloud_stack(tmp_path, ms_per_char=5.0)  # a 0.6 s greeting
    yield made
    await stop_cloud_stack(parts)


@contextlib.asynccontextmanager
async def placed(pilot, stack: CloudStack, *utterances: Utterance) -> AsyncIterator[str]:
    caller: SimulatedCaller = stack.caller(*utterances)
    task = asyncio.create_task(caller.run(), name="simulated caller")
    sid = caller.options.call_sid
    try:
        await wait_until(pilot, lambda: (c := pilot.app.board.get(sid)) and c.live, 5)
        yield sid
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_call_that_turns_risky_moves_to_the_top_of_the_board_and_says_why(stack) -> None:
    # The scheduling profile's phrase is "can't breathe": "can't breath" is a near miss (triage
    # does not fire), and "ridiculous" is an angry word.
    stack.deepgram.script = ["This is ridiculous, I can't breath"]
    hold = Utterance(mulaw=audio.silence(20_000), wait_for_reply=False)
    app = VoiceConsoleApp(AttachedRuntime(stack.runtime))
    async with app.run_test(size=SIZE) as pilot, placed(pilot, stack, hold) as calm:
        table = app.dashboard.query_one(CallsTable)
        async with placed(pilot, stack, spoken(600), hold) as risky:
            await wait_until(pilot, lambda: table.sids == [calm, risky])
            await wait_until(pilot, lambda: table.sids == [risky, calm], 10)
            why = table.get_cell(risky, "alert").plain
            assert why == "sounds like “can't breathe” (“cant breath”)"
            assert table.get_cell(risky, "risk").plain.strip() == "▲  60"  # 50 + 10, rising
            assert not stack.events("EmergencyDetected")  # a near miss, not an emergency
