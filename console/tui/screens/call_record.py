"""One stored call in full: header, summary, recording player, transcript (the line under the
playhead highlighted), latency chart and the audit log of events."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.audio_io import AudioDevices
from console.safe_text import printable
from console.storage.records import CallDetail
from console.tui.backend import HistorySource
from console.tui.records import (
    export_calls,
    export_stem,
    render_record_events,
    render_record_header,
    render_record_transcript,
)
from console.tui.screens.summary_edit import start_summary_edit
from console.tui.widgets.call_summary import CallSummaryPanel
from console.tui.widgets.latency_chart import render_latency_chart
from console.tui.widgets.replay_player import (
    ReplayPlayer,
    export_wav,
    follow_turn,
    highlight_turn,
)


class CallRecordScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("j", "export('json')", "Export JSON"),
        Binding("c", "export('csv')", "Export CSV"),
        Binding("w", "export_wav", "Export WAV"),
        Binding("e", "edit_summary", "Edit summary"),
    ]

    def __init__(self, history: HistorySource, call_sid: str) -> None:
        super().__init__()
        self._history = history
        self.call_sid = call_sid
        self.record: CallDetail | None = None  # set once the read has answered
        self._transcript = Text()  # the record's transcript, before the playhead's highlight

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading…", id="record-header")
        yield CallSummaryPanel(id="record-summary")
        yield ReplayPlayer(getattr(self.app, "audio_devices", None) or AudioDevices())
        with Horizontal(id="record-body"):
            with VerticalScroll(id="record-transcript-box"):
                yield Static(id="record-transcript")
            with Vertical(id="record-side"):
                yield Static(id="record-latency")
                with VerticalScroll(id="record-events-box"):
                    yield Static(id="record-events")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = printable(f"call {self.call_sid}")
        self._read()

    @work(thread=True, exclusive=True, group="record-read", name="call record read")
    def _read(self) -> None:
        try:
            record, problem = self._history.get_call(self.call_sid), None
        except Exception as error:  # a locked or damaged database: say so, keep the screen
            record, problem = None, f"could not read this call: {error}"
        self.app.call_from_thread(self._show, record, problem)

    def _show(self, record: CallDetail | None, problem: str | None) -> None:
        if not self.is_mounted:
            return  # closed while the read ran
        header = self.query_one("#record-header", Static)
        if record is None:
            header.update(Text(printable(problem or f"No call {self.call_sid} in the history.")))
            return
        self.record = record
        header.update(render_record_header(record))
        self.query_one(CallSummaryPanel).show(record)
        self._transcript = render_record_transcript(record)
        self.query_one("#record-transcript", Static).update(self._transcript)
        self.query_one(ReplayPlayer).load(record)
        self.query_one("#record-latency", Static).update(
            render_latency_chart(record.metrics)
        )
        self.query_one("#record-events", Static).update(render_record_events(record))

    def on_replay_player_turn_reached(self, message: ReplayPlayer.TurnReached) -> None:
        transcript = self.query_one("#record-transcript", Static)
        transcript.update(highlight_turn(self._transcript, message.turn))
        box = self.query_one("#record-transcript-box", VerticalScroll)
        follow_turn(box, self._transcript, message.turn, transcript.content_region.width)

    def action_export_wav(self) -> None:
        if self.record is None:
            return
        exports_dir = getattr(self._history, "exports_dir", None)
        export = partial(export_wav, exports_dir, self.record, export_stem(self.call_sid))
        self.run_worker(partial(tell, self, export), thread=True, name="export wav", group="export")

    def action_edit_summary(self) -> None:
        start_summary_edit(self, self._history, self.record, self._read)

    def action_export(self, kind: str) -> None:
        stem = export_stem(self.call_sid)
        export = partial(run_export, self, self._history, kind, [self.call_sid], stem)
        self.run_worker(export, thread=True, name=f"export {kind}", group="export")


def run_export(
    screen: Screen[Any], history: HistorySource, kind: str, call_sids: list[str], stem: str
) -> None:
    """Thread worker body for both history screens: export, then tell the operator where."""
    tell(screen, partial(export_calls, history, kind, call_sids, stem))


def tell(screen: Screen[Any], export: Callable[[], str]) -> None:
    """Thread worker body: run an export, then tell the operator where it went, or why not."""
    severity: SeverityLevel
    try:
        message, severity = export(), "information"
    except Exception as error:  # no export in this runtime, a full disk, a read-only folder
        message, severity = f"Export failed: {error}", "error"
    # markup=False: an error may quote what a caller sent, and markup would be obeyed.
    notify = partial(screen.notify, message, severity=severity, timeout=15, markup=False)
    screen.app.call_from_thread(notify)
