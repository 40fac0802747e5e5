"""The highlighted call at a glance, under the board: who and where it is (state, time,
latency), why it ranks where it does (every risk reason), and its last words, as the call view
shows them. With no call, what the screen is waiting for."""

from __future__ import annotations

import dataclasses

from rich.text import Text

from console.tui.call_state import CallState
from console.tui.describe import duration, millis
from console.tui.ranking import Health
from console.tui.widgets.steady import SteadyStatic
from console.tui.widgets.transcript import render_transcript

HEAD_LINES = 4  # who and where, latency, risk, a blank line; then the last turns, as many as fit
WAITING = ("Waiting for the first call. Each call appears above the moment Twilio connects, "
           "the riskiest on top with the reason why; the highlighted one is previewed here: "
           "its last words, state and latency. Enter opens it.")


class CallPreview(SteadyStatic):
    DEFAULT_CSS = """
    CallPreview { height: 1fr; min-height: 6; border: round $primary; padding: 0 1; }
    """

    def show(self, call: CallState | None, now: float) -> None:
        title = "Highlighted call" if call is not None else "Preview"
        if self.border_title != title:  # setting it repaints, even to the same words
            self.border_title = title
        if call is None:
            self.show_text(Text(WAITING, "dim"))
            return
        # Two lines kept for the reply being spoken and the caller's words not yet a turn.
        turns = max(2, self.content_region.height - HEAD_LINES - 2)
        self.show_text(render_preview(call, now, turns))


class LineHealth(SteadyStatic):
    """The header over the board (render_health)."""

    DEFAULT_CSS = """
    LineHealth { height: 1; padding: 0 1; background: $boost; }
    """


def render_preview(call: CallState, now: float, turns: int) -> Text:
    text = Text()
    text.append(call.caller, style="bold")
    text.append(f"  {call.profile or 'default profile'}  ·  {call.state}", style="")
    text.append(f"  ·  {duration(call.duration(now))}")
    if not call.live:
        text.append(f"  ·  ended ({call.end_reason or 'hung up'})", style="dim")
    text.append("\n").append_text(render_latency(call))
    text.append("\n").append_text(render_reasons(call))
    tail = dataclasses.replace(call, lines=call.lines[-turns:])  # shallow: cheap
    return text.append("\n\n").append_text(render_transcript(tail))


def render_latency(call: CallState) -> Text:
    p50, p95 = call.v2v_percentile(50), call.v2v_percentile(95)
    turns = len(call.v2v)
    return Text(f"voice-to-voice  last {millis(call.last_v2v)}  ·  p50 {millis(p50)}  ·  "
                f"p95 {millis(p95)}  over {turns} turn{'s' if turns != 1 else ''}", style="dim")


def render_reasons(call: CallState) -> Text:
    assessment = call.risk.assessment
    if not assessment.reasons:
        return Text("risk —  nothing worrying so far", style="green")
    text = Text(f"risk {assessment.score}  ", style="bold yellow")
    for n, reason in enumerate(assessment.reasons):
        text.append(" · " if n else "")
        text.append(f"{reason.words} (+{reason.points:.0f})", style="bold" if n == 0 else "")
    return text


def render_health(health: Health) -> Text:
    """The line header: calls now, v2v p95 over 5 minutes, open alerts, degraded providers."""
    text = Text()
    text.append(f"{health.calls_now} call{'s' if health.calls_now != 1 else ''} now", "bold")
    if health.v2v_p95_ms is None:
        text.append("   v2v p95 (5 min) — no turns yet", style="dim")
    else:
        text.append(f"   v2v p95 (5 min) {health.v2v_p95_ms:.0f} ms over {health.v2v_turns} "
                    f"turn{'s' if health.v2v_turns != 1 else ''}")
    alerts = health.open_alerts
    text.append(f"   {alerts} open alert{'s' if alerts != 1 else ''}" if alerts else
                "   no open alerts", style="bold white on red" if alerts else "green")
    if health.degraded:
        text.append(f"   degraded: {', '.join(health.degraded)}", style="bold yellow")
    else:
        text.append("   providers: none degraded", style="green")
    return text
