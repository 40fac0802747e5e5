"""Catch-up on join (issue 15), in the call view: the one-line brief of the call so far, and,
while this call is heard, the caller's and the agent's level meters and how far behind live the
catch-up replay still is.

Both only render: the brief comes from the runtime (`BriefSource`, in a worker of this widget,
so leaving the call cancels the question), the levels from the app's `AudioDesk`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from console.audio_io import FLOOR_DB
from console.safe_text import printable

if TYPE_CHECKING:
    from console.summary.brief import CallBrief

log = logging.getLogger(__name__)

METER_CELLS = 16  # 3.75 dB a cell, FLOOR_DB (-60) to 0 dBFS: both legs fit 120 columns
METER_HZ = 10


class CatchUpBrief(Static):
    """`Catch-up  0:42 in · …` under the call's header; hidden when the backend has no briefs."""

    DEFAULT_CSS = "CatchUpBrief { height: auto; padding: 0 1; display: none; }"

    def __init__(self, call_sid: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call_sid = call_sid

    def on_mount(self) -> None:
        source = getattr(getattr(self.app, "backend", None), "briefs", None)
        if source is not None:
            self.display = True
            self.update(Text("Catch-up  reading the call so far…", style="dim"))
            self.run_worker(self._brief(source), name=f"brief {self.call_sid}", group="brief")

    async def _brief(self, source: Callable[[str], AsyncIterator[CallBrief]]) -> None:
        try:
            async for brief in source(self.call_sid):
                self.update(render_brief(brief))
        except LookupError:
            self.update(Text("Catch-up  this call is no longer live", style="dim"))
        except Exception as error:  # the console stays up; the operator reads why
            log.exception("catch-up brief of %s failed", self.call_sid)
            self.update(Text(f"Catch-up  unavailable: {printable(str(error))}", style="dim"))


def render_brief(brief: CallBrief) -> Text:
    """A `console.summary.brief.CallBrief` as one line, saying where it came from."""
    text = Text()
    text.append("Catch-up  ", style="bold")
    text.append(printable(brief.text))  # the caller's words: never markup, never escapes
    if brief.source == "llm":
        note = "  (model)"
    elif brief.pending:
        note = "  (extract; asking the model…)"
    elif brief.problem:
        note = f"  (extract: the model failed: {printable(brief.problem)})"
    else:
        note = "  (extract)"
    text.append(note, style="bold yellow" if brief.problem else "dim")
    return text


class ListenMeters(Static):
    """While this call is on the operator's speaker: `Listening live  caller ▮▮▯ agent ▮▯▯`."""

    DEFAULT_CSS = "ListenMeters { height: 1; padding: 0 1; display: none; }"

    def __init__(self, call_sid: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call_sid = call_sid

    def on_mount(self) -> None:
        self.set_interval(1 / METER_HZ, self.sample, name="listen meters")

    def sample(self) -> None:
        desk = getattr(self.app, "audio_desk", None)
        meters = desk.meters(self.call_sid) if desk is not None else None
        self.display = meters is not None
        if meters is not None:
            self.update(render_meters(meters.levels, meters.behind_s))


def render_meters(levels: dict[str, float], behind_s: float | None) -> Text:
    text = Text("Listening ", style="bold")
    if behind_s is None:
        text.append("live", style="bold green")
    else:
        text.append(f"catching up 1.5×, {behind_s:.1f} s behind", style="bold yellow")
    for leg in ("caller", "agent"):
        text.append(f"   {leg} ")
        text.append_text(meter_bar(levels.get(leg, FLOOR_DB)))
    return text


def meter_bar(db: float) -> Text:
    """METER_CELLS cells from FLOOR_DB to 0 dBFS; the loudest quarter in red."""
    lit = round((max(FLOOR_DB, min(0.0, db)) - FLOOR_DB) / -FLOOR_DB * METER_CELLS)
    bar = Text()
    for cell in range(METER_CELLS):
        on = cell < lit
        style = ("red" if cell >= METER_CELLS * 3 // 4 else "green") if on else "dim"
        bar.append("▮" if on else "▯", style=style)
    bar.append(f" {db:5.1f} dB", style="dim")
    return bar
