"""What happened on the call, one line per fact, timed from the start of the call."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.tui.call_state import CallState
from console.tui.describe import duration

_LOUD = {
    "EmergencyDetected": "bold white on red",
    "TransferFinished": "bold yellow",
    "TransferAttempted": "yellow",
    "ProviderDegraded": "yellow",
    "ProtocolErrorCounted": "red",
    "OperatorActed": "magenta",
}


class Timeline(VerticalScroll):
    DEFAULT_CSS = """
    Timeline { border: round $primary; }
    Timeline > Static { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-text")

    def show(self, call: CallState) -> None:
        following = self.scroll_y >= self.max_scroll_y
        self.query_one("#timeline-text", Static).update(render_timeline(call))
        if following:
            self.call_after_refresh(self.scroll_end, animate=False)


def render_timeline(call: CallState) -> Text:
    text = Text()
    for entry in call.timeline:
        if text:
            text.append("\n")
        text.append(f"+{duration(entry.at - call.started_at):>6} ", style="dim")
        text.append(entry.summary, style=_LOUD.get(entry.kind, ""))
    return text or Text("nothing yet", style="dim")
