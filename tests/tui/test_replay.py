"""Replay from history: a stored call's recording played in the call record screen, on a fake
sound card whose stream the test pulls as PortAudio's thread would (this machine has none)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.tui.app import VoiceConsoleApp
from console.tui.screens.call_record import CallRecordScreen
from console.tui.widgets.replay_player import ReplayPlayer
from tests.recordings import RATE, noise_recording, recorded_call

from .conftest import frozen_clock, wait_until
from .fakes import FakeBackend
from .test_audio_desk import FakeSoundCard
from .test_history import NOW, ExportingHistory, notes_of, open_history, stored_history

SIZE = (140, 40)
THREADED = 10.0  # seconds to wait on a thread (file read, device, export) on a loaded machine
SID = "CA" + "0a" * 16
STARTED = NOW - 600
SECONDS = 12.0
TURNS = [
    ("agent", "Hello, this is the clinic.", 0.2, 2.0),
    ("caller", "I would like to book a cleaning.", 2.5, 4.5),
    ("agent", "Sure, which day suits you?", 5.0, 7.0),
    ("caller", "Tuesday morning please.", 7.5, 9.0),
    ("agent", "Booked for Tuesday at nine.", 9.5, 11.5),
]


@pytest.fixture
def recording(tmp_path: Path) -> tuple[ExportingHistory, np.ndarray, Path]:
    wav, heard = noise_recording(tmp_path / "rec.wav", SECONDS)
    history = stored_history(tmp_path, recorded_call(SID, STARTED, TURNS, wav, SECONDS))
    return history, heard, wav


def replay_app(history, card: FakeSoundCard | None = None) -> VoiceConsoleApp:
    backend = FakeBackend()
    backend.history = history
    card = card or FakeSoundCard()
    return VoiceConsoleApp(
        backend, clock=frozen_clock(NOW), refresh_interval=0.02, audio=card.devices()
    )


async def open_player(pilot) -> ReplayPlayer:
    await open_history(pilot)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, CallRecordScreen))
    player = pilot.app.screen.query_one(ReplayPlayer)
    loaded = lambda: player.engine is not None or player.problem != LOADING  # noqa: E731
    await wait_until(pilot, loaded, within=THREADED)
    return player


LOADING = "loading the recording…"


def highlighted_line(app: VoiceConsoleApp) -> str | None:
    """The transcript line shown highlighted (reverse video), if any."""
    text = app.screen.query_one("#record-transcript", Static).content
    assert isinstance(text, Text)
    marked = [s for s in text.spans if "reverse" in str(s.style)]
    return text.plain[marked[0].start : marked[0].end] if marked else None


def player_line(player: ReplayPlayer) -> str:
    return str(player.content).splitlines()[0]


async def test_play_sends_the_recording_to_the_speaker_sample_for_sample(recording) -> None:
    history, heard, _ = recording
    card = FakeSoundCard()
    app = replay_app(history, card)
    async with app.run_test(size=SIZE) as pilot:
        player = await open_player(pilot)
        assert player_line(player).startswith("⏸ 0:00 / 0:12")
        await pilot.press("space")
        await wait_until(pilot, lambda: card.speakers and player.engine.playing, within=THREADED)
        speaker = card.speakers[0]
        played = np.concatenate([speaker.pull(160) for _ in range(100)])  # 2 s
        assert np.array_equal(played, heard[: 2 * RATE])
        await wait_until(pilot, lambda: player_line(player).startswith("▶ 0:02 / 0:12"))
        await pilot.press("space")  # pause: the speaker hears silence, the playhead stays
        await wait_until(pilot, lambda: not player.engine.playing)
        assert not speaker.pull(160).any() and player.engine.position == 2.0
        await pilot.press("escape")  # leaving the call closes its device
        await wait_until(pilot, lambda: speaker.closed, within=THREADED)


async def test_seek_and_skip_move_what_the_speaker_plays_next(recording) -> None:
    history, heard, _ = recording
    card = FakeSoundCard()
    app = replay_app(history, card)
    async with app.run_test(size=SIZE) as pilot:
        player = await open_player(pilot)
        await pilot.press("space")
        await wait_until(pilot, lambda: card.speakers and player.engine.playing, within=THREADED)
        speaker = card.speakers[0]

        async def next_from(seconds: float) -> None:
            at = round(seconds * RATE)
            assert np.array_equal(speaker.pull(160), heard[at : at + 160]), seconds

        await pilot.press("5")  # half way
        await next_from(6.0)
        await pilot.press("right")
        await next_from(6.02 + 5)
        await pilot.press("left", "left")
        await next_from(6.04 + 5 - 10)
        await pilot.press("left")  # before the start: the start
        await next_from(0.0)
        await pilot.press("9", "right")  # past the end: the end, playing stops
        assert not speaker.pull(160).any() and not player.engine.playing
        await wait_until(pilot, lambda: player_line(player).startswith("⏸ 0:12 / 0:12"))


async def test_faster_replay_covers_more_recording_per_second_heard(recording) -> None:
    history, heard, _ = recording
    card = FakeSoundCard()
    app = replay_app(history, card)
    async with app.run_test(size=SIZE) as pilot:
        player = await open_player(pilot)
        await pilot.press("space")
        await wait_until(pilot, lambda: card.speakers and player.engine.playing, within=THREADED)
        speaker = card.speakers[0]
        for speed, start in ((1.5, 0.0), (2.0, 3.0)):
            await pilot.press("f")
            await wait_until(pilot, lambda s=speed: f"{s:g}×" in player_line(player))
            player.engine.seek(start)
            played = np.concatenate([speaker.pull(160) for _ in range(50)])  # 1 s heard
            assert player.engine.position == pytest.approx(start + speed, abs=0.04)
            assert played.std() > heard.std() / 2  # sound, not silence
            assert not np.array_equal(played, heard[round(start * RATE) :][: RATE])
        await pilot.press("f")  # back to 1x: samples as recorded again
        await wait_until(pilot, lambda: "1×" in player_line(player))
        at = round(player.engine.position * RATE)
        assert np.array_equal(speaker.pull(160), heard[at : at + 160])


async def test_the_transcript_line_under_the_playhead_is_highlighted_as_it_plays(
    recording,
) -> None:
    history, _, _ = recording
    card = FakeSoundCard()
    app = replay_app(history, card)
    async with app.run_test(size=SIZE) as pilot:
        player = await open_player(pilot)
        assert highlighted_line(app) is None  # 0:00 is before the greeting
        await pilot.press("space")
        await wait_until(pilot, lambda: card.speakers and player.engine.playing, within=THREADED)
        seen: list[str | None] = []
        for step in range(1, 21):  # the whole call, 0.6 s at a time
            card.speakers[0].pull(round(0.6 * RATE))
            said = spoken_at(0.6 * step)
            await wait_until(pilot, lambda s=said: highlighted_line(app) == s)
            if not seen or seen[-1] != said:
                seen.append(said)
        assert not player.engine.playing  # 12 s played: the end
        assert [line for line in seen if line] == [f"{label(t[0])} {t[1]}" for t in TURNS]
        assert seen.count(None) == 4  # in the silences between turns nothing is highlighted


def spoken_at(seconds: float) -> str | None:
    """The transcript line of the turn being said at `seconds`, as the record screen shows it."""
    spoken = [t for t in TURNS if t[2] <= seconds + 1e-9 and seconds - 1e-9 <= t[3]]
    return f"{label(spoken[-1][0])} {spoken[-1][1]}" if spoken else None


def label(role: str) -> str:
    return role.capitalize().ljust(8)


async def test_the_highlighted_line_scrolls_into_view_in_a_long_transcript(tmp_path) -> None:
    turns = [("caller" if i % 2 else "agent", f"line number {i}", i * 1.0, i + 0.8)
             for i in range(60)]  # fmt: skip
    wav, _ = noise_recording(tmp_path / "long.wav", 60.0)
    history = stored_history(tmp_path, recorded_call(SID, STARTED, turns, wav, 60.0))
    app = replay_app(history)
    async with app.run_test(size=SIZE) as pilot:
        player = await open_player(pilot)
        box = app.screen.query_one("#record-transcript-box", VerticalScroll)
        assert box.scroll_y == 0 and box.max_scroll_y > 0
        await pilot.press("9")  # 54 s: the 55th line, far below the fold
        await wait_until(pilot, lambda: highlighted_line(app) == "Agent    line number 54")
        await wait_until(pilot, lambda: box.scroll_y > 0)
        assert box.scroll_y <= 54 < box.scroll_y + box.scrollable_content_region.height
        await pilot.press("1")
        await wait_until(pilot, lambda: highlighted_line(app) == "Agent    line number 6")
        await wait_until(pilot, lambda: box.scroll_y <= 6)
        assert player.engine.position == pytest.approx(6.0)


async def test_without_a_speaker_the_player_says_why_and_the_wav_still_exports(
    recording,
) -> None:
    history, _, wav = recording
    app = replay_app(history, FakeSoundCard(speaker=False))
    notes = notes_of(app)
    async with app.run_test(size=SIZE) as pilot:
        player = await open_player(pilot)
        await pilot.press("space")
        await wait_until(pilot, lambda: notes, within=THREADED)
        assert notes[0].startswith("Cannot play here: no audio output device")
        assert "export" in notes[0] and not player.engine.playing
        assert "no audio output device" in str(player.content)
        await pilot.press("w")
        await wait_until(pilot, lambda: len(notes) == 2, within=THREADED)
    assert_exported(notes[1], history, wav)


def assert_exported(note: str, history: ExportingHistory, wav: Path) -> None:
    """The operator was told where the WAV went; it is there, private, and the recording."""
    path = Path(note.removeprefix("Exported the recording to "))
    assert path.parent == history.exports_dir and path.name.startswith(SID)
    assert path.read_bytes() == wav.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_call_without_a_recording_says_so(tmp_path) -> None:
    history = stored_history(tmp_path, recorded_call(SID, STARTED, TURNS, None, SECONDS))
    card = FakeSoundCard()
    app = replay_app(history, card)
    notes = notes_of(app)
    async with app.run_test(size=SIZE) as pilot:
        player = await open_player(pilot)
        assert player.engine is None
        assert str(player.content) == f"call {SID} has no recording"
        await pilot.press("space", "w")
        await wait_until(pilot, lambda: len(notes) == 2, within=THREADED)
    assert notes[0] == f"Nothing to play: call {SID} has no recording"
    assert notes[1] == f"Export failed: call {SID} has no recording"
    assert card.speakers == []


class RefusingSoundCard(FakeSoundCard):
    """A speaker that is there but will not open (PortAudio: "Invalid sample rate")."""

    def _speaker(self, callback):
        raise OSError("Error opening RawOutputStream: Invalid sample rate [PaErrorCode -9997]")


async def test_a_speaker_that_refuses_to_open_is_reported_and_nothing_plays(recording) -> None:
    history, _, _ = recording
    app = replay_app(history, RefusingSoundCard())
    notes = notes_of(app)
    async with app.run_test(size=SIZE) as pilot:
        player = await open_player(pilot)
        await pilot.press("space")
        await wait_until(pilot, lambda: notes, within=THREADED)
        assert notes[0].startswith("Cannot play here: the speaker failed (Error opening")
        assert not player.engine.playing and "the speaker failed" in str(player.content)


class SlowSoundCard(FakeSoundCard):
    """A speaker that takes its time to open (PortAudio can take hundreds of ms)."""

    def __init__(self) -> None:
        super().__init__()
        self.opening = threading.Event()
        self.may_open = threading.Event()

    def _speaker(self, callback):
        self.opening.set()
        self.may_open.wait(timeout=10)
        return super()._speaker(callback)


async def test_leaving_the_call_while_the_speaker_opens_still_closes_it(recording) -> None:
    history, _, _ = recording
    card = SlowSoundCard()
    app = replay_app(history, card)
    async with app.run_test(size=SIZE) as pilot:
        await open_player(pilot)
        await pilot.press("space")
        await wait_until(pilot, card.opening.is_set, within=THREADED)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CallRecordScreen))
        card.may_open.set()
        await wait_until(pilot, lambda: card.speakers and card.speakers[0].closed, within=THREADED)
