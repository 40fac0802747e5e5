"""Latency of the current turn, stage by stage, and voice-to-voice over the whole call."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from console.tui.call_state import V2V_KEYS, CallState
from console.tui.describe import millis

BUDGET_MS = 500.0  # people notice more than ~500 ms from speech end to the agent's voice


class LatencyPanel(Vertical):
    DEFAULT_CSS = """
    LatencyPanel { height: auto; border: round $primary; padding: 0 1; }
    LatencyPanel > Sparkline { height: 2; margin: 1 0 0 0; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="stages")
        yield Sparkline([], id="v2v-sparkline")
        yield Static(id="percentiles")

    def show(self, call: CallState) -> None:
        self.query_one("#stages", Static).update(render_stages(call))
        self.query_one("#v2v-sparkline", Sparkline).data = list(call.v2v)
        self.query_one("#percentiles", Static).update(render_percentiles(call))


def render_stages(call: CallState) -> Text:
    if not call.stages:
        return Text("no turn measured yet", style="dim")
    text = Text(f"turn {call.turn}", style="bold")
    for stage, value in call.stages.items():
        text.append(f"\n{stage_label(stage):<22}")
        text.append(f"{millis(value):>8}", style=_tone(value) if stage in V2V_KEYS else "")
    return text


def stage_label(stage: str) -> str:
    """ "stt_final->llm_request" is the gap until the LLM request: shown as "→ llm request"."""
    *gap, end = stage.split("->")
    return ("→ " if gap else "") + end.replace("_", " ")


def render_percentiles(call: CallState) -> Text:
    text = Text("v2v ", style="bold")
    for label, value in (("p50", call.v2v_percentile(50)), ("p95", call.v2v_percentile(95))):
        text.append(f"{label} ")
        text.append(millis(value), style=_tone(value))
        text.append(" · ")
    text.append(f"n={len(call.v2v)}", style="dim")
    return text


def _tone(value: float | None) -> str:
    if value is None:
        return "dim"
    return "bold red" if value > BUDGET_MS else "green"
