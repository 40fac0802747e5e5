"""The first screen: start-up progress, the line's health, every call ranked by risk (the
riskiest on top, with why), a preview of the highlighted call, and the runtime's status."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.tui.backend import BackendStatus
from console.tui.board import CallBoard
from console.tui.call_state import CallState
from console.tui.ranking import BoardOrder, Health
from console.tui.screens.base import BoardView
from console.tui.widgets.call_preview import CallPreview, LineHealth, render_health
from console.tui.widgets.calls_table import CallsTable
from console.tui.widgets.startup import StartupPanel
from console.tui.widgets.status_bar import StatusBar

# How often the lines whose time moved are repainted. At 50 calls the clock's tick repainted
# every line at once, one stall of ~12 ms on the loop the calls' audio shares (its largest, after
# the pitch measure; a slow-callback trace with bench/risk_cost.py); in four steps a second each
# step repaints the quarter of the lines whose second turned since the last.
TIMES_STEP_S = 0.25


class CallChosen(Message):
    """The operator opened a call; the app shows its call view."""

    def __init__(self, call_sid: str) -> None:
        super().__init__()
        self.call_sid = call_sid


class DashboardScreen(BoardView, Screen[None]):
    # The table is as tall as its calls (up to 60 %), the preview takes the rest: one call is
    # one row above its own preview, never a row in a void. Inline (on mount), as app.tcss sizes
    # #calls and #no-calls for every screen and outranks a screen's own CSS.
    LAYOUT = {
        "calls": "height: auto; max-height: 60%;",
        "no-calls": "height: auto; padding: 0 1; content-align: left top;",
    }
    # priority: the focused table would otherwise swallow enter with a hidden binding of its own
    BINDINGS = [Binding("enter", "open_call", "Open", priority=True)]

    def __init__(self, board: CallBoard, clock: Callable[[], float], steps: dict[str, str]) -> None:
        super().__init__()
        self._board = board
        self._clock = clock
        self._steps = steps  # the app's start-up steps, updated in place as they are reported
        self._startup_ok = False
        self._mounted = False  # Screen.is_mounted is still False inside on_mount
        self._previewed: str | None = None
        self._order = BoardOrder()  # calm: rows move only past calls clearly below them
        self._health: Health | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield StartupPanel(id="startup")
        yield LineHealth(id="line-health")
        yield CallsTable(id="calls", rising_s=self._board.risk.rising_s)
        yield Static("No calls yet: they appear here the moment Twilio connects.", id="no-calls")
        yield CallPreview(id="preview")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        for widget_id, styles in self.LAYOUT.items():
            self.query_one(f"#{widget_id}").set_styles(styles)
        self._mounted = True
        self.show_startup(self._startup_ok)
        self.refresh_board(frozenset())
        self.set_interval(TIMES_STEP_S, self._repaint_moved_times, name="call times")

    def _repaint_moved_times(self) -> None:
        tables = self.query(CallsTable)
        if tables:
            moved = tables.first().times_moved(self._board.calls(), self._clock())
            if moved:
                self.refresh_board(moved)

    def selected_call(self) -> str | None:
        tables = self.query(CallsTable)  # none while the console closes
        sid = tables.first().selected_sid() if tables else None
        call = self._board.get(sid) if sid else None
        return sid if call is not None and call.live else None

    def refresh_board(self, changed: frozenset[str]) -> None:
        tables = self.query(CallsTable)
        if not self._mounted or not tables:
            # Mounted a moment before its children (on_mount shows the board), or the app is
            # closing and they are already gone while the board still changes.
            return
        calls, now = self._ranked(resort=not changed), self._clock()
        table = tables.first()
        table.sync(calls, now, changed)
        self.query_one("#no-calls").display = not calls
        self._show_health(now)
        self._show_preview(table.selected_sid(), changed, now)

    def _ranked(self, resort: bool) -> list[CallState]:
        """Re-sorted on the clock's tick (a call turning critical: at once). A row that moves
        repaints every line between its old and new place; the tick repaints every live call's
        line anyway (its time moved), so moves made then add next to nothing to draw, and the
        rows hold still between ticks. A call turning risky is on top within a second."""
        return self._order.order(self._board.calls(), resort)

    def _show_health(self, now: float) -> None:
        health = self._board.health(now)
        if health != self._health:  # a repaint only when a figure moved
            self._health = health
            self.query_one(LineHealth).show_text(render_health(health))

    def _show_preview(self, sid: str | None, changed: frozenset[str], now: float) -> None:
        """On a new highlight, a change to the previewed call, or the clock's tick (empty)."""
        if sid == self._previewed and changed and sid not in changed:
            return
        self._previewed = sid
        self.query_one(CallPreview).show(self._board.get(sid) if sid else None, now)

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
        if self._mounted:
            sid = self.query_one(CallsTable).selected_sid()
            self._show_preview(sid, frozenset(), self._clock())
