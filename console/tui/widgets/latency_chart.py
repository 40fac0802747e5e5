"""A stored call's latency, one bar per turn: where voice-to-voice went, stage by stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text

from console.storage.records import TurnMetrics
from console.tui.call_state import V2V_KEYS, percentile
from console.tui.describe import millis
from console.tui.widgets.latency import BUDGET_MS

BAR_WIDTH = 32  # cells for the slowest turn; the others scale to it

# The gaps that add up to voice-to-voice (speech end -> first frame sent), in order, with a
# short name and a colour for each (console.calls.metrics.TurnClock.report spells the keys).
SEGMENTS = (
    ("speech_end->stt_final", "recognition", "cyan"),
    ("stt_final->llm_request", "to the LLM", "blue"),
    ("llm_request->llm_first_token", "LLM first token", "magenta"),
    ("llm_first_token->first_sentence", "first chunk", "yellow"),  # first clause (metrics.py)
    ("first_sentence->tts_first_byte", "TTS first byte", "green"),
    ("tts_first_byte->first_frame_sent", "first frame out", "white"),
)


def render_latency_chart(metrics: Sequence[TurnMetrics]) -> Text:
    """`metrics` as CallRepository.get_call gives them: one TurnMetrics per measured turn."""
    turns = [(m.turn, m.stages, v2v) for m in metrics if (v2v := _v2v(m.stages)) is not None]
    if not turns:
        return Text("no turn was measured on this call", style="dim")
    scale = BAR_WIDTH / max(v2v for _, _, v2v in turns)
    text = Text("voice to voice, per turn\n", style="bold")
    for turn, stages, v2v in turns:
        text.append(f"{turn:>4} ")
        text.append_text(_bar(stages, v2v, scale))
        text.append(f" {millis(v2v):>8}\n", style="bold red" if v2v > BUDGET_MS else "green")
    values = [v2v for _, _, v2v in turns]
    text.append(
        f"p50 {millis(percentile(values, 50))} · p95 {millis(percentile(values, 95))}"
        f" · budget {BUDGET_MS:.0f} ms\n",
        style="bold",
    )
    text.append_text(_legend())
    return text


def _v2v(stages: Mapping[str, float]) -> float | None:
    return next((float(stages[k]) for k in V2V_KEYS if k in stages), None)


def _bar(stages: Mapping[str, float], v2v: float, scale: float) -> Text:
    bar = Text()
    parts = [(stages[key], colour) for key, _, colour in SEGMENTS if key in stages]
    if not parts:
        parts = [(v2v, "bright_black")]  # totals only: one undivided bar
    done = 0.0
    for ms, colour in parts:
        # Rounded at the running total, so the segments add up to the whole bar exactly.
        cells = round((done + ms) * scale) - round(done * scale)
        done += ms
        bar.append("█" * max(0, cells), style=colour)
    return bar.append(" " * max(0, BAR_WIDTH - len(bar)))


def _legend() -> Text:
    text = Text()
    for _, name, colour in SEGMENTS:
        text.append("█", style=colour)
        text.append(f" {name}  ")
    return text
