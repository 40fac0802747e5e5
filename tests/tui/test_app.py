"""The operator console driven through Textual's Pilot against a scripted FakeBackend."""

from __future__ import annotations

import asyncio
import sys

import pytest
from rich.text import Text
from textual.command import CommandList
from textual.widgets import Input, OptionList, Static

from console.events import (
    AlertRaised,
    CallerTranscribed,
    CallStarted,
    StateChanged,
    TurnMeasured,
)
from console.tui.app import VoiceConsoleApp
from console.tui.screens.alert import AlertScreen
from console.tui.screens.call_view import CallViewScreen
from console.tui.screens.dialogs import ConfirmScreen, PromptScreen
from console.tui.screens.transfer import TransferScreen
from console.tui.widgets.calls_table import CallsTable

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend, call_script, emergency_script

SIZE = (120, 36)


def make_app(backend: FakeBackend) -> VoiceConsoleApp:
    return VoiceConsoleApp(backend, clock=frozen_clock(), refresh_interval=0.02)


def cell(app: VoiceConsoleApp, sid: str, column: str) -> str:
    value = app.dashboard.query_one(CallsTable).get_cell(sid, column)
    return value.plain if isinstance(value, Text) else str(value)


def table_has(app: VoiceConsoleApp, sid: str) -> bool:
    return sid in set(app.dashboard.query_one(CallsTable).sids)


def recorded(backend: FakeBackend, action: str) -> list[tuple]:
    return [call for call in backend.control.calls if call[0] == action]


async def test_a_call_appears_in_the_table_on_call_started_and_its_state_updates(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(
            [
                CallStarted(
                    "CA1", stream_sid="MZ1", from_number="+15551230001", profile="scheduling", at=T0
                )
            ]
        )
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        assert cell(app, "CA1", "caller") == "+15551230001"
        assert cell(app, "CA1", "duration") == "0:42"
        backend.play(
            [
                StateChanged("CA1", state="speaking"),
                TurnMeasured("CA1", turn=1, stages={"voice_to_voice": 612.4}),
            ]
        )
        await wait_until(pilot, lambda: cell(app, "CA1", "state") == "speaking")
        assert cell(app, "CA1", "talking") == "agent"
        assert cell(app, "CA1", "latency") == "612 ms"


def text_of(widget: Static) -> str:
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)


async def test_start_up_progress_is_shown_until_the_runtime_is_up(backend) -> None:
    backend.hold_start = asyncio.Event()
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.dashboard.query_one("#startup", Static)
        await wait_until(pilot, lambda: "listening on 127.0.0.1:8765" in text_of(panel))
        assert panel.display and not app.started
        backend.hold_start.set()
        await wait_until(pilot, lambda: not panel.display)
        status = app.dashboard.query_one("#status", Static)
        await wait_until(pilot, lambda: "https://console-test.example" in text_of(status))
        assert "errors provider 1" in text_of(status)


async def test_a_failed_start_up_stays_on_screen_with_the_reason() -> None:
    backend = FakeBackend()
    backend.start_error = RuntimeError("port 8765 is in use")
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "start-up" in app.startup_steps)
        assert app.startup_steps["start-up"] == "failed: port 8765 is in use"
        assert app.dashboard.query_one("#startup").display and not app.started


async def test_quitting_stops_the_runtime_before_the_console_exits(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.started)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: backend.stopped)
    assert app.return_code == 0


async def test_a_second_quit_does_not_cut_the_runtime_shutdown_short(backend) -> None:
    backend.hold_stop = asyncio.Event()  # e.g. the webhook restore is still in flight
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.started)
        await pilot.press("ctrl+q", "ctrl+q")
        await wait_until(pilot, lambda: backend.stop_calls == 1)
        assert app.is_running and not backend.stopped
        backend.hold_stop.set()
        await wait_until(pilot, lambda: backend.stopped)
    assert backend.stop_calls == 1


async def test_the_transcript_shows_interim_words_dim_then_the_final_text(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script()[:5])
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))

        def transcript() -> Text:
            return app.screen.query_one("#transcript-text", Static).content

        backend.play([CallerTranscribed("CA1", text="I'd like to bok", final=False)])
        await wait_until(pilot, lambda: "I'd like to bok" in transcript().plain)
        interim = transcript()
        start = interim.plain.index("I'd like to bok")
        assert any("dim" in str(s.style) for s in interim.spans if s.start <= start < s.end)

        backend.play([CallerTranscribed("CA1", text="I'd like to book.", final=True)])
        await wait_until(pilot, lambda: "I'd like to book." in transcript().plain)
        final = transcript()
        assert "bok" not in final.plain
        start = final.plain.index("I'd like to book.")
        assert not any("dim" in str(s.style) for s in final.spans if s.start <= start < s.end)


async def test_an_interrupted_agent_turn_is_marked_where_it_was_cut(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script())
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        text = app.screen.query_one("#transcript-text", Static).content.plain
        assert "We have openings on Tuesday and Thursday. ⟂ cut (speech-started)" in text
        latency = app.screen.query_one("#percentiles", Static).content.plain
        assert "p50 430 ms" in latency and "p95 560 ms" in latency


async def test_take_over_then_hand_back_act_on_the_highlighted_call(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play([*call_script("CA1"), *call_script("CA2", "+15551230002")])
        await wait_until(pilot, lambda: table_has(app, "CA2"))
        await pilot.press("down", "t")
        await wait_until(pilot, lambda: recorded(backend, "take_over"))
        assert recorded(backend, "take_over") == [("take_over", "CA2", "console")]
        await wait_until(pilot, lambda: app.board.get("CA2").taken_over)
        await pilot.press("t")  # the same key now hands the call back
        await wait_until(pilot, lambda: recorded(backend, "hand_back"))
        assert recorded(backend, "hand_back") == [("hand_back", "CA2", "console")]


async def test_mute_toggles_the_agent_on_the_selected_call(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("m")
        await wait_until(pilot, lambda: app.board.get("CA1").agent_muted)
        await pilot.press("m")
        await wait_until(pilot, lambda: len(recorded(backend, "mute_agent")) == 2)
        assert recorded(backend, "mute_agent") == [
            ("mute_agent", "CA1", True, "console"),
            ("mute_agent", "CA1", False, "console"),
        ]


@pytest.mark.parametrize("key, action", [("s", "say"), ("w", "whisper")])
async def test_say_and_whisper_send_the_typed_line_to_the_selected_call(
    backend, key, action
) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press(key)
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"Hold on", "enter")
        await wait_until(pilot, lambda: recorded(backend, action))
        assert recorded(backend, action) == [(action, "CA1", "Hold on", "console")]


async def test_escape_closes_the_say_box_without_speaking(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("s", "h", "i")
        await wait_until(pilot, lambda: app.screen.query_one(Input).value == "hi")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.dashboard)
        assert backend.control.calls == []


async def test_transfer_offers_the_profile_targets_and_transfers_to_the_chosen_one(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))  # a "scheduling" call: default, front desk, billing
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, TransferScreen))
        targets = app.screen.query_one(OptionList)
        offered = [str(targets.get_option_at_index(i).prompt) for i in range(targets.option_count)]
        assert [line.split()[0] for line in offered] == ["default", "front", "billing"]
        assert "+12025550102" in offered[2] and backend.control.calls == []
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: recorded(backend, "transfer"))
        assert recorded(backend, "transfer") == [("transfer", "CA1", "billing", "console")]


async def test_transfer_to_a_typed_number_and_escape_transfers_nothing(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, TransferScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.dashboard)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, TransferScreen))
        app.screen.query_one(Input).focus()
        await pilot.press(*"555", "enter")  # not a number Twilio can dial: the picker stays
        await pilot.pause()
        assert isinstance(app.screen, TransferScreen) and backend.control.calls == []
        app.screen.query_one(Input).value = ""
        await pilot.press(*"+1 555 123 4567", "enter")
        await wait_until(pilot, lambda: recorded(backend, "transfer"))
        assert recorded(backend, "transfer") == [("transfer", "CA1", "+15551234567", "console")]


async def test_hang_up_from_the_call_view_acts_on_that_call_once_confirmed(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play([*call_script("CA1"), *call_script("CA2", "+15551230002")])
        await wait_until(pilot, lambda: table_has(app, "CA2"))
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        await pilot.press("h", "n")  # declined: nothing happens
        await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
        assert backend.control.calls == []
        await pilot.press("h", "y")
        await wait_until(pilot, lambda: recorded(backend, "hang_up"))
        assert recorded(backend, "hang_up") == [("hang_up", "CA2", "console")]


async def test_operator_keys_do_nothing_without_a_call(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.started)
        await pilot.press("t", "x", "h", "s")
        assert app.screen is app.dashboard and backend.control.calls == []


async def test_a_failed_control_action_is_reported_and_the_console_carries_on(backend) -> None:
    app = make_app(backend)
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    backend.control.fail_with = RuntimeError("call already ended")
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("t")
        await wait_until(pilot, lambda: notes)
        assert notes == ["take over failed: call already ended"]
        assert app.is_running and not app.board.get("CA1").taken_over


@pytest.mark.parametrize("where", ["dashboard", "call view", "say box"])
async def test_an_emergency_alert_shows_on_any_screen_rings_and_is_acknowledged(
    backend, where
) -> None:
    app = make_app(backend)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press(*{"dashboard": [], "call view": ["enter"], "say box": ["s"]}[where])
        await pilot.pause()
        before = app.screen
        backend.play(emergency_script("CA1"))
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen))
        assert bells == [1]
        body = app.screen.query_one("#alert-body", Static).content.plain
        assert "“chest pain”" in body and "transfer attempt 1 to +15550009999" in body
        await pilot.press("a")
        await wait_until(pilot, lambda: app.screen is before)
        assert app.board.pending_alerts() == []
        assert cell(app, "CA1", "alert") == "⚠ chest pain"  # the flag stays after the ack


async def test_a_critical_alert_without_an_emergency_comes_up_rings_and_offers_take_over(
    backend,
) -> None:
    """A deaf call, a session that could not start, a transfer that keeps failing: the
    operator must see it on whatever screen is up, as an emergency."""
    app = make_app(backend)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        backend.play([AlertRaised("CA1", level="critical",
                                  message="This call cannot hear the caller: take it over")])
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen))
        assert bells == [1]
        assert str(app.screen.query_one("#alert-title", Static).content) == "⚠  ALERT"
        body = app.screen.query_one("#alert-body", Static).content.plain
        assert "This call cannot hear the caller: take it over" in body
        await pilot.press("t")
        await wait_until(pilot, lambda: recorded(backend, "take_over"))
        assert recorded(backend, "take_over") == [("take_over", "CA1", "console")]
        assert cell(app, "CA1", "alert").startswith("⚠ This call cannot hear")


async def test_hang_up_from_the_alert_acts_on_the_alerted_call_and_keeps_the_alert(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play([*call_script("CA1"), *call_script("CA2", "+15551230002")])
        backend.play(emergency_script("CA2"))
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen))
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: recorded(backend, "hang_up"))
        assert recorded(backend, "hang_up") == [("hang_up", "CA2", "console")]
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen))
        await pilot.press("a")
        await wait_until(pilot, lambda: app.screen is app.dashboard)


async def test_the_alert_follows_the_transfer_as_it_progresses(backend) -> None:
    from console.events import TransferFinished

    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play([*call_script("CA1"), *emergency_script("CA1")])
        await wait_until(pilot, lambda: isinstance(app.screen, AlertScreen))
        backend.play([TransferFinished("CA1", target="+15550009999", outcome="completed")])

        def body() -> str:
            return app.screen.query_one("#alert-body", Static).content.plain

        await wait_until(pilot, lambda: "transfer to +15550009999: completed" in body())


async def test_listen_in_says_why_it_is_unavailable(backend, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if the audio extra were absent
    app = make_app(backend)
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("l")
        await wait_until(pilot, lambda: notes)
        assert notes[0].startswith("Listen-in unavailable: sounddevice is not installed")


async def test_the_command_palette_offers_the_operator_actions_for_the_call(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert {"Take over", "Say…", "Whisper…", "Transfer…", "Hang up", "Listen in"} <= set(titles)
        assert "Hand back" not in titles


async def test_take_over_from_the_command_palette_acts_on_the_highlighted_call(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play(call_script("CA1"))
        await wait_until(pilot, lambda: table_has(app, "CA1"))
        await pilot.press("ctrl+p", *"take over")
        await wait_until(pilot, lambda: app.screen.query_one(CommandList).option_count)
        await pilot.press("enter")
        await wait_until(pilot, lambda: recorded(backend, "take_over"))
        assert recorded(backend, "take_over") == [("take_over", "CA1", "console")]


async def test_transfer_on_a_call_without_a_profile_offers_the_default_target(backend) -> None:
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        backend.play([CallStarted("CA9", stream_sid="MZ9", from_number="+15551239999", at=T0)])
        await wait_until(pilot, lambda: table_has(app, "CA9"))
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, TransferScreen))
        hints = [str(label.content) for label in app.screen.query(".dialog-hint")]
        assert "this call has no profile: its default target is used" in hints
        await pilot.press("enter")
        await wait_until(pilot, lambda: recorded(backend, "transfer"))
        assert recorded(backend, "transfer") == [("transfer", "CA9", "default", "console")]


async def test_calls_arriving_while_the_console_closes_do_not_crash_it(backend) -> None:
    """At exit the dashboard's children go before the board stops changing: a change that lands
    in between must be dropped, not raise (NoMatches CallsTable took whole test runs down)."""
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await app.dashboard.query_one(CallsTable).remove()  # as at teardown
        backend.play([CallStarted("CA9", stream_sid="MZ9", from_number="+15551230009", at=T0)])
        app.dashboard.refresh_board(frozenset({"CA9"}))
        await pilot.pause()
    assert app.return_code in (None, 0)
