"""The emergency alert: over whatever screen is up, until the operator acknowledges it.

Take over, say and hang up still work here and act on the alerted call: during an emergency the
operator should not have to dismiss a dialog before helping.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from console.tui.board import CallBoard
from console.tui.call_state import CallState
from console.tui.screens.base import BoardView


class AlertScreen(BoardView, ModalScreen[None]):
    # A modal hides the app's bindings, so the ones that matter in an emergency are repeated here
    # (routed to the app, which acts on the alerted call).
    BINDINGS = [
        Binding("a", "acknowledge", "Acknowledge", priority=True),
        Binding("t", "app.take_over", "Take over"),
        Binding("t", "app.hand_back", "Hand back"),
        Binding("s", "app.say", "Say"),
        Binding("h", "app.hang_up", "Hang up"),
    ]

    def __init__(self, board: CallBoard) -> None:
        super().__init__()
        self._board = board
        self._dismissing = False

    def compose(self) -> ComposeResult:
        with Vertical(id="alert-box"):
            yield Static("⚠  EMERGENCY", id="alert-title")
            yield Static(id="alert-body")
            yield Static("press a to acknowledge", id="alert-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_board(frozenset())

    def selected_call(self) -> str | None:
        live = [call for call in self._board.pending_alerts() if call.live]
        return live[0].call_sid if live else None

    def refresh_board(self, changed: frozenset[str]) -> None:
        if not self.is_mounted:
            return  # pushed, not composed yet: on_mount shows the board
        pending = self._board.pending_alerts()
        if not pending:
            self._close()  # acknowledged, or the call was forgotten
            return
        self.query_one("#alert-body", Static).update(render_alerts(pending))
        emergency = any(call.alert and call.alert.phrase for call in pending)
        self.query_one("#alert-title", Static).update("⚠  EMERGENCY" if emergency else "⚠  ALERT")

    def on_screen_resume(self) -> None:
        self.refresh_board(frozenset())  # a dialog opened from here has closed

    def action_acknowledge(self) -> None:
        for call in self._board.pending_alerts():
            self._board.acknowledge(call.call_sid)
            if call.live and (record := getattr(self.app, "record_acknowledged", None)):
                record(call.call_sid, "alert")  # issue 15: what a drill's score reads
        self._close()

    def _close(self) -> None:
        # dismiss() pops whatever screen is on top, so only ever from the top, and only once.
        if self.app.screen is self and not self._dismissing:
            self._dismissing = True
            self.dismiss()


def render_alerts(calls: list[CallState]) -> Text:
    text = Text()
    for call in calls:
        assert call.alert is not None
        if text:
            text.append("\n\n")
        text.append(f"{call.caller}", style="bold")
        text.append(f"  ({call.profile or 'no profile'}, {call.state})\n")
        if not call.alert.phrase:  # a critical alert: its words, then what followed
            text.append(call.alert.text, style="bold")
            for line in call.alert.progress:
                text.append(f"\n  → {line}")
            continue
        text.append("matched ")
        text.append(f"“{call.alert.phrase}”", style="bold reverse")
        text.append(f" from the {call.alert.source}: ")
        text.append(call.alert.text, style="italic")
        for line in call.alert.progress or ["transfer: waiting for the first attempt…"]:
            text.append(f"\n  → {line}")
    return text
