"""Hostile text through every screen that shows call data, on one console driven by the Pilot.

A caller controls their number, the custom parameters and their words; the store keeps them; the
operator types a search. None of it may crash the console (and every live call with it), reach the
terminal as something it obeys (escapes, C1 controls, OSC 52 clipboard writes, hyperlinks), or be
applied as markup (`[@click=app.quit]` as a live action link).
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Iterator
from itertools import count
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from textual.app import App
from textual.events import Paste
from textual.pilot import Pilot
from textual.widgets import Input

from console.events import (
    AgentInterrupted,
    AgentSpoke,
    CallEnded,
    CallerTranscribed,
    CallEvent,
    CallStarted,
    DtmfPressed,
    EmergencyDetected,
    OperatorActed,
    ProviderDegraded,
    StateChanged,
    TransferAttempted,
    TurnCompleted,
    TurnMeasured,
)
from console.safe_text import printable
from console.storage.db import open_db, write_event
from console.storage.repository import CallRepository
from console.tui.app import VoiceConsoleApp
from console.tui.screens.alert import AlertScreen
from console.tui.screens.call_record import CallRecordScreen
from console.tui.screens.call_view import CallViewScreen
from console.tui.screens.dialogs import ConfirmScreen, PromptScreen
from console.tui.screens.history import HistoryScreen
from console.tui.screens.transfer import TransferScreen
from console.tui.widgets.calls_table import CallsTable
from console.tui.widgets.printable_input import PrintableInput

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend

SIZE = (120, 36)

# What a terminal obeys, and what markup would do, as a caller might send it.
PIECES = (
    "[/]",
    "[@click=app.quit]quit[/]",
    "[b]bold",
    "[link=https://evil.example]click[/link]",
    "\x1b]0;owned\x07",  # retitle the window
    "\x1b[2J\x1b[H",  # clear the screen
    "\x9b2J",  # the same, as one C1 byte
    "\x1b]52;c;ZWNobyBvd25lZA==\x07",  # write the operator's clipboard
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",  # a terminal hyperlink
    "\u202eevil\u202c",  # bidi override
    "\ud800",  # a lone surrogate (valid JSON: "\\ud800")
    "\r\n\t\x00\x7f\x85\u2028",
    "😀 中文 e\u0301 ﷽",
    "[/]\x1b[2J" * 400,  # long
)
HOSTILE = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=20)), min_size=1, max_size=5
).map("".join)

# The only actions Textual itself puts in what it renders: its scrollbars'.
SCROLLBAR_META = {("@mouse.down", action) for action in ("grab", "scroll_up", "scroll_down")}
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def obeyed(character: str) -> bool:
    """A character a terminal acts on (or cannot encode), instead of showing it."""
    return unicodedata.category(character) in ("Cc", "Cs") or character in _BIDI


Walk = Callable[..., Awaitable[None]]  # (pilot, backend, sid, hostile)
Job = tuple[Callable[[Pilot], Awaitable[None]], asyncio.Future[None]]


class ExportingHistory(CallRepository):
    def __init__(self, db_path: Path) -> None:
        super().__init__(db_path)
        self.exports_dir = db_path.parent / "exports"


def test_hostile_text_on_every_screen_neither_crashes_the_console_nor_reaches_the_terminal(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "data" / "calls.db"
    open_db(db_path).close()
    backend = FakeBackend()
    backend.history = ExportingHistory(db_path)
    app = VoiceConsoleApp(backend, clock=frozen_clock(T0 + 42), refresh_interval=0.02)
    loop = asyncio.new_event_loop()
    jobs: asyncio.Queue[Job | None] = asyncio.Queue()
    console = loop.create_task(run_console(app, jobs))

    def drive(walk: Walk, *args: object) -> None:
        """Run one walk inside the console's task; its failure is the example's failure."""
        finished = loop.create_future()
        jobs.put_nowait((lambda pilot: walk(pilot, *args), finished))
        loop.run_until_complete(asyncio.wait([finished, console], return_when=FIRST_COMPLETED))
        finished.result() if finished.done() else console.result()

    numbers = count(1)
    try:

        # Each example: a live call and a stored call full of the text, the dashboard, and one
        # more screen (every screen gets the worst text once, below; a walk costs ~0.3 s).
        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(hostile=HOSTILE, walk=st.sampled_from(sorted(WALKS)))
        @_every_walk_with(WORST)
        def every_screen_survives(hostile: str, walk: str) -> None:
            n = next(numbers)
            store(db_path, stored_call(f"CA{n}/../../{hostile}", hostile, T0 + n))
            drive(on_the_dashboard, backend, f"CA{n:032x}", hostile)
            drive(WALKS[walk], backend, f"CA{n:032x}", hostile)

        every_screen_survives()
    finally:
        jobs.put_nowait(None)
        loop.run_until_complete(console)
        loop.close()
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and "exports" not in p.parts]
    assert sorted(p.name for p in outside) == ["calls.db", "calls.db-shm", "calls.db-wal"]


async def run_console(app: VoiceConsoleApp, jobs: asyncio.Queue[Job | None]) -> None:
    """One console for every example. Hypothesis calls the test body between runs of the loop,
    and each walk runs here, in the task that entered run_test: Textual looks up its app in
    context variables, which a task of its own would not have."""
    async with app.run_test(size=SIZE, notifications=True) as pilot:  # toasts rendered too
        await wait_until(pilot, lambda: app.started)
        while (job := await jobs.get()) is not None:
            walk, finished = job
            try:
                await walk(pilot)
            except BaseException as error:  # noqa: BLE001 - handed to the example, as it is
                finished.set_exception(error)
            else:
                finished.set_result(None)


# -- the walks -------------------------------------------------------------------------------------


async def on_the_dashboard(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    app = pilot.app
    backend.play(live_call(sid, hostile))
    table = app.dashboard.query_one(CallsTable)
    await shows(pilot, lambda: sid in table.sids)
    assert table.get_cell(sid, "caller").plain == (printable(hostile) or "unknown")  # as text
    table.cursor_row = table.sids.index(sid)  # the operator keys act on it


async def alert(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    app = pilot.app
    backend.play(emergency(sid, hostile))
    await shows(pilot, lambda: isinstance(app.screen, AlertScreen))
    await pilot.press("a")
    await shows(pilot, lambda: app.screen is app.dashboard)


async def call_view(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    await opens(pilot, "enter", CallViewScreen)


async def say(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    app = pilot.app
    await pilot.press("s")
    await shows(pilot, lambda: isinstance(app.screen, PromptScreen))
    app.screen.query_one(Input).post_message(Paste(hostile))  # the operator pastes it
    await shows(pilot, lambda: True)
    await pilot.press("enter")
    await shows(pilot, lambda: app.screen is app.dashboard)
    pasted = printable((hostile.splitlines() or [""])[0]).strip()  # an Input takes one line
    said = [call for call in backend.control.calls if call[:2] == ("say", sid)]
    assert said == ([("say", sid, pasted, "console")] if pasted else [])


async def whisper(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    await opens(pilot, "w", PromptScreen)


async def transfer(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    await opens(pilot, "x", TransferScreen)


async def hang_up(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    app = pilot.app
    await pilot.press("h")
    await shows(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    backend.control.fail_with = RuntimeError(hostile)  # its error quotes the caller
    await pilot.press("y")
    await shows(pilot, lambda: app.screen.query("Toast"))
    backend.control.fail_with = None
    app.clear_notifications()


async def history_search(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    screen = await open_history(pilot)
    await search(pilot, screen, hostile)  # the operator's own search, quoted back
    await back_to_the_dashboard(pilot)


async def call_record(pilot: Pilot, backend: FakeBackend, sid: str, hostile: str) -> None:
    app = pilot.app
    await open_history(pilot)
    await pilot.press("home", "enter")  # the newest: this example's call
    await shows(pilot, lambda: isinstance(app.screen, CallRecordScreen) and app.screen.record)
    await pilot.press("j")  # export: named after a SID that climbs out of the folder
    await shows(pilot, lambda: app.screen.query("Toast"))
    app.clear_notifications()
    await back_to_the_dashboard(pilot)


WALKS = {
    "alert": alert,
    "call view": call_view,
    "say": say,
    "whisper": whisper,
    "transfer": transfer,
    "hang up": hang_up,
    "history search": history_search,
    "call record": call_record,
}
WORST = "".join(PIECES[:-1]) + PIECES[-1][:200]


def _every_walk_with(text: str):
    def pinned(test):
        for walk in sorted(WALKS):
            test = example(hostile=text, walk=walk)(test)
        return test

    return pinned


async def opens(pilot: Pilot, key: str, screen_type: type) -> None:
    app = pilot.app
    await pilot.press(key)
    await shows(pilot, lambda: isinstance(app.screen, screen_type))
    await pilot.press("escape")
    await shows(pilot, lambda: app.screen is app.dashboard)


async def open_history(pilot: Pilot) -> HistoryScreen:
    app = pilot.app
    await pilot.press("p")
    await shows(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded)
    return app.screen


async def search(pilot: Pilot, screen: HistoryScreen, words: str) -> None:
    screen.loaded = False
    box = screen.query_one("#history-search", Input)
    box.value = words
    box.focus()
    await pilot.press("enter")
    await shows(pilot, lambda: screen.loaded)


async def back_to_the_dashboard(pilot: Pilot) -> None:
    app = pilot.app
    while app.screen is not app.dashboard:
        app.pop_screen()
    await shows(pilot, lambda: app.screen is app.dashboard)


async def shows(pilot: Pilot, condition: Callable[[], object]) -> None:
    """Wait for `condition`, then check what the console would put on the terminal now."""
    deadline = time.monotonic() + 3.0
    while not condition() and pilot.app.is_running:  # no fixed poll: ~20 waits per example
        assert time.monotonic() < deadline, "the console never got there"
        await pilot.pause()
    app = pilot.app
    assert app.is_running and app._exception is None, app._exception  # noqa: SLF001
    for segment in rendered(app):
        obeys = [c for c in segment.text if obeyed(c)]
        assert not obeys, f"{obeys!r} would reach the terminal in {segment.text!r}"
        style = segment.style
        if style is not None:
            actions = {(k, v) for k, v in style.meta.items() if k.startswith("@")}
            assert actions <= SCROLLBAR_META, f"a live action link: {actions}"
            assert style.link is None, f"a hyperlink to {style.link!r}"


def rendered(app: VoiceConsoleApp) -> Iterator:
    for strip in app.screen._compositor.render_strips():  # noqa: SLF001 - what the terminal gets
        yield from strip


# -- hostile calls ---------------------------------------------------------------------------------


def live_call(sid: str, hostile: str, at: float = T0 + 1) -> list[CallEvent]:
    return [
        CallStarted(sid, stream_sid=hostile, from_number=hostile, to_number=hostile,
                    profile=hostile, at=at),
        StateChanged(sid, state=hostile, at=at),
        CallerTranscribed(sid, text=hostile, final=False, at=at),
        TurnCompleted(sid, role="caller", text=hostile, started=at, ended=at, at=at),
        AgentSpoke(sid, text=hostile, at=at),
        AgentInterrupted(sid, heard=hostile, cause=hostile, at=at),
        TurnCompleted(sid, role="agent", text=hostile, started=at, ended=at, interrupted=True,
                      at=at),
        TurnMeasured(sid, turn=1, stages={hostile: 120.0, "voice_to_voice": 480.0}, at=at),
        OperatorActed(sid, action=hostile, actor=hostile, detail=hostile, at=at),
        ProviderDegraded(sid, provider=hostile, problem=hostile, fallback=hostile, at=at),
        DtmfPressed(sid, digit=hostile, at=at),
    ]  # fmt: skip


def emergency(sid: str, hostile: str, at: float = T0 + 2) -> list[CallEvent]:
    return [
        EmergencyDetected(sid, source=hostile, phrase=hostile, text=hostile, at=at),
        TransferAttempted(sid, target=hostile, attempt=1, ok=False, detail=hostile, at=at),
    ]


def stored_call(sid: str, hostile: str, at: float) -> list[CallEvent]:
    """As the store keeps it: SQLite cannot hold a lone surrogate (the writer drops the event)."""
    kept = hostile.encode("utf-8", "replace").decode("utf-8")
    sid = sid.encode("utf-8", "replace").decode("utf-8")
    ended = CallEnded(sid, reason=kept, at=at + 60)
    return [*live_call(sid, kept, at), *emergency(sid, kept, at), ended]


def store(db_path: Path, events: list[CallEvent]) -> None:
    db = open_db(db_path)
    for event in events:
        write_event(db, event)
    db.conn.commit()
    db.close()


async def test_a_pasted_escape_sequence_never_enters_a_text_box_and_the_cursor_follows() -> None:
    class OneBox(App[None]):
        def compose(self):
            yield PrintableInput(value="+15")

    app = OneBox()
    async with app.run_test() as pilot:
        box = app.query_one(PrintableInput)
        box.cursor_position = 1
        box.post_message(Paste("\x1b]52;c;eA==\x0755\x9b"))  # a clipboard write in the paste
        await pilot.pause()
        assert box.value == "+]52;c;eA==5515"
        assert box.cursor_position == len("+]52;c;eA==55")  # after what was pasted
        box.value = "\u202e+1555"
        assert box.value == "+1555"
