"""The board of a fleet console (issue 17): each call names its media worker, and a call an
operator holds names them; a single process's board has no worker column."""

from __future__ import annotations

from console.events import CallClaimed, CallHosted, CallStarted, ClaimReleased, StateChanged
from console.tui.app import VoiceConsoleApp
from console.tui.call_state import CallState
from console.tui.screens.call_view import render_header
from console.tui.widgets.calls_table import CallsTable

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend
from .test_audio_desk import FakeSoundCard

SIZE = (120, 36)


def make_app(backend: FakeBackend) -> VoiceConsoleApp:
    return VoiceConsoleApp(backend, clock=frozen_clock(), refresh_interval=0.02)


def table(app: VoiceConsoleApp) -> CallsTable:
    return app.dashboard.query_one(CallsTable)


def line(app: VoiceConsoleApp, y: int) -> str:
    return table(app).render_line(y).text


def started(sid: str, caller: str) -> CallStarted:
    return CallStarted(sid, stream_sid=f"MZ{sid}", from_number=caller, profile="clinic", at=T0)


async def test_a_fleet_board_names_each_calls_worker_and_who_holds_it(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play([CallHosted("CA1", worker="worker-a", at=T0), started("CA1", "+15551230001"),
                      CallHosted("CA2", worker="worker-b", at=T0), started("CA2", "+15551230002")])
        await wait_until(pilot, lambda: len(table(app).sids) == 2)
        assert line(app, 0).split()[:4] == ["Risk", "Caller", "Worker", "Profile"]
        rows = {line(app, y).split()[1]: line(app, y).split()[2] for y in (1, 2)}
        assert rows == {"+15551230001": "worker-a", "+15551230002": "worker-b"}

        backend.play([StateChanged("CA2", state="operator"),
                      CallClaimed("CA2", holder="alice", console="desk-a:1")])
        await wait_until(pilot, lambda: table(app).get_cell("CA2", "state").plain
                         == "operator · alice")
        backend.play([ClaimReleased("CA2", holder="alice", why="lapsed")])
        await wait_until(pilot, lambda: table(app).get_cell("CA2", "state").plain == "operator")


async def test_a_single_process_board_has_no_worker_column(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play([started("CA1", "+15551230001")])
        await wait_until(pilot, lambda: table(app).sids == ["CA1"])
        assert line(app, 0).split()[:3] == ["Risk", "Caller", "Profile"]
        assert "Worker" not in line(app, 0)


async def test_taking_over_on_a_fleet_console_leaves_the_microphone_off_and_says_so(
        backend) -> None:
    backend.control.carries_audio = False  # as console/fleet/remote.py RemoteControl
    card = FakeSoundCard()  # a microphone that would open on a single-process console
    app = VoiceConsoleApp(backend, clock=frozen_clock(), refresh_interval=0.02,
                          audio=card.devices())
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    async with app.run_test(size=SIZE) as pilot:
        backend.play([CallHosted("CA1", worker="worker-a", at=T0), started("CA1", "+15551230001")])
        await wait_until(pilot, lambda: table(app).sids == ["CA1"])
        await pilot.press("t")
        await wait_until(pilot, lambda: any("stays on its worker" in note for note in notes))
        assert card.microphones == [] and app.audio_desk.speaking is None
        assert backend.control.calls == [("take_over", "CA1", "console")]


def test_a_fleet_calls_header_names_its_worker_and_the_operator_holding_it() -> None:
    call = CallState("CA1", started_at=T0, caller="+15551230001", profile="clinic",
                     state="operator", taken_over=True, worker="worker-b", holder="alice")
    header = render_header(call, now=T0 + 5).plain
    assert "profile clinic  on worker-b  operator" in header
    assert "OPERATOR HAS THE CALL (alice)" in header
    single = render_header(CallState("CA2", started_at=T0, taken_over=True), now=T0).plain
    assert " on " not in single and single.endswith("OPERATOR HAS THE CALL")
