"""Start-up steps as the runtime reports them (settings, tunnel, webhook, server, tiers)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.safe_text import printable

_BAD = ("fail", "error")
_MEH = ("unavailable", "skipped", "off", "not ", "warning", "fallback")


class StartupPanel(Static):
    DEFAULT_CSS = """
    StartupPanel { height: auto; max-height: 9; border: round $primary; padding: 0 1; }
    """

    def show(self, steps: dict[str, str]) -> None:
        self.update(render_steps(steps))


def render_steps(steps: dict[str, str]) -> Text:
    text = Text()
    for step, status in steps.items():
        if text:
            text.append("\n")
        status = printable(status)  # it may quote an error from the tunnel or Twilio
        text.append(printable(f"{step:<16}"), style="bold")
        text.append(status, style=_tone(status))
    return text or Text("starting…", style="dim")


def _tone(status: str) -> str:
    lowered = status.lower()
    if any(word in lowered for word in _BAD):
        return "bold red"
    if any(word in lowered for word in _MEH):
        return "yellow"
    return "green"
