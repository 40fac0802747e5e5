"""A stored call's recording, played on this machine's speaker: play/pause, ±5 s, seek by
tenths, 1x/1.5x/2x, and the playhead's place in the transcript (posted as `TurnReached`).

The WAV is read in a thread worker, the sound card opened and closed in threads; the sound
card's own thread pulls samples from the ReplayEngine. The event loop only moves the playhead
and reads it back ten times a second (POLL) to redraw one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from console.audio_io import AudioDevices
from console.replay.engine import SKIP_SECONDS, ReplayEngine, ReplayOutput
from console.replay.recording import (
    RecordingUnavailable,
    export_recording,
    read_recording,
    recording_of,
    turn_at,
    wav_export_path,
)
from console.storage.records import CallDetail, CallRecord
from console.tui.describe import duration

POLL = 0.1  # seconds between playhead redraws: a transcript line lasts far longer
BAR = 30  # characters of the progress bar
KEYS = "space play/pause · ←/→ 5 s · 0-9 seek · f speed · w export WAV"


class ReplayPlayer(Static, can_focus=True):
    DEFAULT_CSS = """
    ReplayPlayer { height: auto; padding: 0 1; border: round $primary; }
    ReplayPlayer:focus { border: round $accent; }
    """
    BINDINGS = [
        Binding("space", "play_pause", "Play/Pause"),  # not "toggle": DOMNode has that action
        Binding("left", f"skip(-{SKIP_SECONDS})", "-5 s"),
        Binding("right", f"skip({SKIP_SECONDS})", "+5 s"),
        Binding("f", "speed", "Speed"),
        *(Binding(str(tenth), f"seek_tenth({tenth})", show=False) for tenth in range(10)),
    ]

    class TurnReached(Message):
        """The playhead entered another transcript turn (an index into the record's turns),
        or a silence between turns (None)."""

        def __init__(self, turn: int | None) -> None:
            super().__init__()
            self.turn = turn

    def __init__(self, devices: AudioDevices, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._devices = devices
        self._record: CallDetail | None = None
        self.engine: ReplayEngine | None = None
        self.problem: str | None = "loading the recording…"  # why there is nothing to play
        self.device_problem: str | None = None  # why this machine cannot play it
        self._output: ReplayOutput | None = None
        self._opening = asyncio.Lock()  # one device open at a time (keys come faster)
        self.turn: int | None = None

    def on_mount(self) -> None:
        self.set_interval(POLL, self._tick, name="replay playhead")
        self._redraw()

    def load(self, record: CallDetail) -> None:
        """Show this call's recording (read in a thread)."""
        self._record = record
        self._read(record)

    @work(thread=True, exclusive=True, group="replay-read", name="recording read")
    def _read(self, record: CallDetail) -> None:
        try:
            samples, problem = read_recording(recording_of(record)), None
        except RecordingUnavailable as error:
            samples, problem = None, str(error)
        self.app.call_from_thread(self._loaded, samples, problem)

    def _loaded(self, samples: np.ndarray | None, problem: str | None) -> None:
        if not self.is_mounted:
            return  # the screen closed while the file was read
        self.engine = None if samples is None else ReplayEngine(samples)
        self.problem = problem
        self._tick()

    # -- keys -----------------------------------------------------------------------------------

    def action_play_pause(self) -> None:
        self.run_worker(self._toggle(), name="replay play/pause", group="replay-device")

    async def _toggle(self) -> None:
        async with self._opening:
            if self.engine is None:
                self.notify(f"Nothing to play: {self.problem}", severity="warning", markup=False)
                return
            if self._output is None and not await self._open(self.engine):
                return
            self.engine.toggle()
        self._tick()

    async def _open(self, engine: ReplayEngine) -> bool:
        reason = await asyncio.to_thread(self._devices.why_unavailable, "output")
        if reason is None:
            # Kept before it opens: if the screen closes meanwhile, on_unmount closes it.
            output = self._output = ReplayOutput(engine, self._devices.open_output)
            try:
                await asyncio.to_thread(output.start)
                return True
            except Exception as error:  # the device went away or refused the format
                self._output = None
                await asyncio.to_thread(output.close)
                reason = f"the speaker failed ({error})"
        self.device_problem = f"Cannot play here: {reason}. Press w to export the WAV instead."
        self.notify(self.device_problem, severity="warning", timeout=15, markup=False)
        self._redraw()
        return False

    def action_skip(self, seconds: float) -> None:
        self._move(lambda engine: engine.skip(seconds))

    def action_seek_tenth(self, tenth: int) -> None:
        self._move(lambda engine: engine.seek(engine.length * tenth / 10))

    def action_speed(self) -> None:
        self._move(ReplayEngine.next_speed)

    def _move(self, change: Callable[[ReplayEngine], object]) -> None:
        if self.engine is not None:
            change(self.engine)
            self._tick()

    # -- the playhead ---------------------------------------------------------------------------

    def _tick(self) -> None:
        self._redraw()
        turn = self._turn_now()
        if turn != self.turn:
            self.turn = turn
            self.post_message(self.TurnReached(turn))

    def _turn_now(self) -> int | None:
        record, engine = self._record, self.engine
        if record is None or engine is None or record.started is None:
            return None
        return turn_at(record.turns, record.started, engine.position)

    def _redraw(self) -> None:
        self.update(render_player(self.engine, self.problem, self.device_problem))

    def on_unmount(self) -> None:
        """Leaving the call stops its replay; the app closes the device (its workers outlive
        this widget, and closing blocks)."""
        output, self._output = self._output, None
        if self.engine is not None:
            self.engine.pause()
        if output is not None:
            self.app.run_worker(
                partial(output.close), thread=True, name="replay device close", group="replay"
            )


def render_player(
    engine: ReplayEngine | None, problem: str | None, device_problem: str | None = None
) -> Text:
    if engine is None:
        return Text(problem or "no recording", style="dim")
    position, length = engine.position, engine.length
    filled = round(BAR * position / length) if length else 0
    text = Text("▶ " if engine.playing else "⏸ ", style="bold")
    text.append(f"{duration(position)} / {duration(length)}  ")
    text.append("━" * filled, style="bold green")
    text.append("─" * (BAR - filled), style="dim")
    text.append(f"  {engine.speed:g}×", style="bold")
    if device_problem:
        text.append(f"\n{device_problem}", style="yellow")
    else:
        text.append(f"\n{KEYS}", style="dim")
    return text


# -- the transcript under the playhead --------------------------------------------------------


def highlight_turn(transcript: Text, turn: int | None) -> Text:
    """The record's transcript (console.tui.records: one line per turn, in order) with the
    line of `turn` highlighted."""
    lines = transcript.split("\n")
    if turn is None or not 0 <= turn < len(lines):
        return transcript
    lines[turn].stylize("reverse")
    return Text("\n").join(lines)


def follow_turn(box: Widget, transcript: Text, turn: int | None, width: int) -> None:
    """Scroll `box` (holding the transcript, `width` cells wide) just enough to show `turn`."""
    if turn is None or width < 1:
        return
    lines = transcript.split("\n")[: turn + 1]
    rows = [len(line.wrap(box.app.console, width)) for line in lines]
    top = sum(rows[:-1])
    box.scroll_to_region(Region(0, top, width, rows[-1]), animate=False, immediate=True)


# -- the recording as an export ---------------------------------------------------------------


def export_wav(exports_dir: Path | None, record: CallRecord, stem: str) -> str:
    """Copy the call's recording into the exports folder (0600); returns what to tell the
    operator. Blocking (file copy): a thread worker runs it."""
    if exports_dir is None:
        raise RecordingUnavailable("this runtime's call history cannot export")
    source = recording_of(record)
    path = export_recording(source, wav_export_path(Path(exports_dir), stem))
    return f"Exported the recording to {path}"
