"""One call up close: the live transcript, latency of this turn and of the call, the timeline."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.tui.backend import BackendStatus
from console.tui.board import CallBoard
from console.tui.call_state import CallState
from console.tui.describe import duration
from console.tui.gate_keys import GateKeys
from console.tui.screens.base import BoardView
from console.tui.widgets.catch_up import CatchUpBrief, ListenMeters
from console.tui.widgets.latency import LatencyPanel
from console.tui.widgets.proposal import ProposalPanel
from console.tui.widgets.status_bar import StatusBar
from console.tui.widgets.timeline import Timeline
from console.tui.widgets.transcript import TranscriptView


class CallViewScreen(GateKeys, BoardView, Screen[None]):  # type: ignore[misc]  # GateKeys narrows Textual's `app`
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), *GateKeys.GATE_BINDINGS]

    def __init__(self, call_sid: str, board: CallBoard, clock: Callable[[], float]) -> None:
        super().__init__()
        self.call_sid = call_sid
        self._board = board
        self._clock = clock
        self._composed = False  # until on_mount: the board may tick before the children exist

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="call-header")
        yield Static(id="call-banner")
        yield ProposalPanel(id="proposal")
        # issue 15, catch-up on join: the brief of the call so far; meters while it is heard
        yield CatchUpBrief(self.call_sid, id="catch-up")
        yield ListenMeters(self.call_sid, id="listen-meters")
        with Horizontal(id="call-body"):
            yield TranscriptView(id="transcript")
            with Vertical(id="call-side"):
                yield LatencyPanel(id="latency")
                yield Timeline(id="timeline")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._composed = True  # Screen.is_mounted is still False inside on_mount
        self.refresh_board(frozenset())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self.gate_action_state(action, parameters)
        return True if state is None else state

    def selected_call(self) -> str | None:
        call = self._board.get(self.call_sid)
        return self.call_sid if call is not None and call.live else None

    def refresh_board(self, changed: frozenset[str]) -> None:
        if not self._composed:
            return  # pushed, not composed yet (the board ticks meanwhile): on_mount shows it
        call = self._board.get(self.call_sid)
        if call is None:
            forgotten = Text("This call ended and was forgotten.")
            self.query_one("#call-header", Static).update(forgotten)
            return
        self.sub_title = f"call from {call.caller}"
        self.query_one("#call-header", Static).update(render_header(call, self._clock()))
        self._show_banner(call)
        self.query_one(ProposalPanel).show(call, self._clock())  # its wait is clock-driven too
        self.sync_gate_keys(call)
        if changed and self.call_sid not in changed:
            return  # another call changed; only the clock-driven header needed a repaint
        self.query_one(TranscriptView).show(call)
        self.query_one(LatencyPanel).show(call)
        self.query_one(Timeline).show(call)

    def refresh_status(self, status: BackendStatus) -> None:
        # query, not query_one: a screen can be mounted a moment before its children are.
        for bar in self.query(StatusBar):
            bar.show(status)

    def _show_banner(self, call: CallState) -> None:
        banner = self.query_one("#call-banner", Static)
        banner.display = call.alert is not None
        if call.alert is not None:
            progress = f"  ·  {call.transfer}" if call.transfer else ""
            banner.update(Text(f"⚠ {call.alert.headline}{progress}"))  # not markup


def render_header(call: CallState, now: float) -> Text:
    text = Text()
    text.append(call.caller, style="bold")
    text.append(f" → {call.callee or '—'}  profile {call.profile or '—'}  ")
    if call.worker:  # a fleet (issue 17): the media worker the call runs on
        text.append(f"on {call.worker}  ")
    text.append(call.state, style="bold magenta" if call.taken_over else "bold")
    text.append(f"  {duration(call.duration(now))}  talking: {call.talking or '—'}")
    if call.taken_over:
        holder = f" ({call.holder})" if call.holder else ""  # a fleet: who holds it
        text.append(f"  OPERATOR HAS THE CALL{holder}", style="bold magenta")
    if call.agent_muted:
        text.append("  agent muted", style="bold yellow")
    if call.gated:
        text.append("  replies gated", style="bold cyan")
    if call.caller_muted:  # issue 15: the agent is not listening to the caller
        text.append("  caller muted", style="bold yellow")
    if not call.live:
        text.append(f"  ended: {call.end_reason}", style="dim")
    return text
