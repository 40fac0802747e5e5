"""The conversation as the caller experienced it: interim words dim until final, agent speech as
it is spoken, and an interrupted turn shows what was heard and where it was cut."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.tui.call_state import CallState, TranscriptLine

LABELS = {
    "caller": ("Caller  ", "bold cyan"),
    "agent": ("Agent   ", "bold green"),
    "operator": ("Operator", "bold magenta"),
    "whisper": ("Whisper ", "bold yellow"),  # the operator to the agent; never heard
}
WHISPER_MARK = "  (to the agent only, unheard by the caller)"


class TranscriptView(VerticalScroll):
    DEFAULT_CSS = """
    TranscriptView { border: round $primary; }
    TranscriptView > Static { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="transcript-text")

    def show(self, call: CallState) -> None:
        following = self.scroll_y >= self.max_scroll_y  # keep following the end unless scrolled up
        self.query_one("#transcript-text", Static).update(render_transcript(call))
        if following:
            self.call_after_refresh(self.scroll_end, animate=False)


def render_transcript(call: CallState) -> Text:
    text = Text()
    for line in call.lines:
        _append_line(text, line)
    if call.agent_live is not None:
        _append_line(text, call.agent_live, live=True)
    if call.caller_finals or call.interim:
        _append_pending_caller(text, call)
    return text or Text("waiting for the first words…", style="dim")


def _append_line(text: Text, line: TranscriptLine, live: bool = False) -> None:
    label, style = LABELS.get(line.role, (line.role[:8].ljust(8), "bold"))
    _newline(text).append(f"{label} ", style=style)
    if line.role == "whisper":
        text.append(line.text, style="italic")
        text.append(WHISPER_MARK, style="dim yellow")
        return
    if line.heard is None:
        text.append(line.text + (" …" if live else ""))
        _append_pauses(text, line)
        return
    heard = line.heard
    rest = line.text[len(heard) :] if line.text.startswith(heard) else ""
    text.append(heard)
    text.append(rest, style="dim strike")
    text.append(f" ⟂ cut ({line.cause or 'interrupted'})", style="bold yellow")


def _append_pauses(text: Text, line: TranscriptLine) -> None:
    if line.paused:
        text.append(" ⏸ paused for the caller", style="bold yellow")
    if line.resumes:
        times = "" if line.resumes == 1 else f" ×{line.resumes}"
        text.append(f" ↻ resumed{times}", style="green")


def _append_pending_caller(text: Text, call: CallState) -> None:
    label, style = LABELS["caller"]
    _newline(text).append(f"{label} ", style=style)
    text.append(" ".join(call.caller_finals))
    if call.interim:
        text.append((" " if call.caller_finals else "") + call.interim, style="dim italic")


def _newline(text: Text) -> Text:
    if text:
        text.append("\n")
    return text
