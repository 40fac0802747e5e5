"""The first screen: start-up progress, every live call, and the runtime's status."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.tui.backend import BackendStatus
from console.tui.board import CallBoard
from console.tui.screens.base import BoardView
from console.tui.widgets.calls_table import CallsTable
from console.tui.widgets.startup import StartupPanel
from console.tui.widgets.status_bar import StatusBar


class CallChosen(Message):
    """The operator opened a call; the app shows its call view."""

    def __init__(self, call_sid: str) -> None:
        super().__init__()
        self.call_sid = call_sid


class DashboardScreen(BoardView, Screen):
    # priority: the focused table would otherwise swallow enter with a hidden binding of its own
    BINDINGS = [Binding("enter", "open_call", "Open", priority=True)]

    def __init__(self, board: CallBoard, clock: Callable[[], float], steps: dict[str, str]) -> None:
        super().__init__()
        self._board = board
        self._clock = clock
        self._steps = steps  # the app's start-up steps, updated in place as they are reported
        self._startup_ok = False
        self._mounted = False  # Screen.is_mounted is still False inside on_mount

    def compose(self) -> ComposeResult:
        yield Header()
        yield StartupPanel(id="startup")
        yield CallsTable(id="calls")
        yield Static("No calls yet: they appear here the moment Twilio connects.", id="no-calls")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._mounted = True
        self.show_startup(self._startup_ok)
        self.refresh_board(frozenset())

    def selected_call(self) -> str | None:
        sid = self.query_one(CallsTable).selected_sid()
        call = self._board.get(sid) if sid else None
        return sid if call is not None and call.live else None

    def refresh_board(self, changed: frozenset[str]) -> None:
        if not self._mounted:
            return  # mounted a moment before its children: on_mount shows the board
        calls = self._board.calls()
        self.query_one(CallsTable).sync(calls, self._clock())
        self.query_one("#no-calls").display = not calls

    def refresh_status(self, status: BackendStatus) -> None:
        # query, not query_one: a screen can be mounted a moment before its children are.
        for bar in self.query(StatusBar):
            bar.show(status)

    def show_startup(self, finished_ok: bool) -> None:
        self._startup_ok = finished_ok
        if not self._mounted:
            return  # on_mount shows it
        panel = self.query_one(StartupPanel)
        panel.show(self._steps)
        panel.display = not finished_ok  # once up, the status bar says it all in one line

    def action_open_call(self) -> None:
        sid = self.query_one(CallsTable).selected_sid()
        if sid is not None:
            self.post_message(CallChosen(sid))

    def on_calls_table_picked(self, event: CallsTable.Picked) -> None:
        self.post_message(CallChosen(event.call_sid))

    def on_calls_table_highlighted(self) -> None:
        self.refresh_bindings()  # the operator keys follow the highlighted call
