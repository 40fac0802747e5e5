"""`voiceconsole calls play SID` and `calls export SID --wav`, against a store the real writer
filled and a recording as the recorder writes it. The speaker is a fake stream pulled by its own
thread, as PortAudio pulls a real one (this machine has no sound card)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from console.audio_io import AudioDevices
from console.cli import main
from console.commands import calls_audio
from console.storage.writer import StoreWriter
from tests.recordings import RATE, noise_recording, recorded_call

SID = "CA" + "5e" * 16
T0 = 1_700_000_000.0
TURNS = [("agent", "Hello, this is the clinic.", 0.2, 1.5), ("caller", "Hi there.", 1.8, 2.8)]


class PulledSpeaker:
    """A sounddevice RawOutputStream stand-in: a thread asks the callback for 20 ms blocks
    until the stream is stopped, and keeps every sample it was given."""

    def __init__(self, callback) -> None:
        self._callback = callback
        self._stopping = threading.Event()
        self.blocks: list[bytes] = []
        self.closed = False
        self._thread = threading.Thread(target=self._run, name="fake PortAudio", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            out = bytearray(320)
            self._callback(memoryview(out), 160, None, None)
            self.blocks.append(bytes(out))

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def close(self) -> None:
        self.closed = True

    def samples(self) -> np.ndarray:
        return np.frombuffer(b"".join(self.blocks), dtype="<i2")


class Card:
    def __init__(self, speaker: bool = True) -> None:
        self.speaker = speaker
        self.streams: list[PulledSpeaker] = []

    def devices(self) -> AudioDevices:
        return AudioDevices(open_output=self._open, why_unavailable=self._why)

    def _open(self, callback) -> PulledSpeaker:
        self.streams.append(PulledSpeaker(callback))
        return self.streams[-1]

    def _why(self, kind: str) -> str | None:
        return None if self.speaker else f"no audio {kind} device (Error querying device -1)"


async def _store(db_path: Path, events: list) -> None:
    writer = StoreWriter(db_path)
    writer.start()
    for event in events:
        writer(event)
    await writer.close()


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data" / "voiceconsole.db"
    monkeypatch.setenv("VOICECONSOLE_DATA_DB", str(path))
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree
    return path


@pytest.fixture
def stored(db_path: Path, tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 3 s recorded call, and a call without a recording (CAquiet)."""
    wav, heard = noise_recording(tmp_path / "rec.wav", 3.0)
    events = recorded_call(SID, T0, TURNS, wav, 3.0)
    asyncio.run(_store(db_path, [*events, *recorded_call("CAquiet", T0 + 9, TURNS, None, 3.0)]))
    return wav, heard


def with_card(monkeypatch: pytest.MonkeyPatch, card: Card) -> Card:
    monkeypatch.setattr(calls_audio, "audio_devices", card.devices)
    return card


def test_calls_play_plays_the_whole_recording_then_closes_the_speaker(
    stored, monkeypatch, capsys
) -> None:
    _, heard = stored
    card = with_card(monkeypatch, Card())
    assert main(["calls", "play", SID]) == 0
    (speaker,) = card.streams
    played = speaker.samples()
    assert np.array_equal(played[: len(heard)], heard) and not played[len(heard) :].any()
    assert speaker.closed
    out = capsys.readouterr().out
    assert f"playing {SID} from 0:00 of 0:03 at 1x" in out and out.rstrip().endswith("done")


def test_calls_play_at_2x_from_a_second_in_plays_the_rest_in_half_the_time(
    stored, monkeypatch
) -> None:
    card = with_card(monkeypatch, Card())
    assert main(["calls", "play", SID, "--speed", "2", "--from", "1"]) == 0
    sound = np.flatnonzero(card.streams[0].samples())
    assert (sound[-1] + 1) / RATE == pytest.approx((3.0 - 1.0) / 2, abs=0.05)


def test_calls_play_without_a_speaker_says_why_exits_1_and_points_to_the_export(
    stored, monkeypatch, capsys
) -> None:
    card = with_card(monkeypatch, Card(speaker=False))
    assert main(["calls", "play", SID]) == 1
    err = capsys.readouterr().err
    assert "cannot play here: no audio output device" in err
    assert f"voiceconsole calls export {SID} --wav" in err
    assert card.streams == []


def test_calls_play_of_an_unknown_call_or_one_without_a_recording_says_so(
    stored, monkeypatch, capsys
) -> None:
    card = with_card(monkeypatch, Card())
    assert main(["calls", "play", "CAnobody"]) == 1
    assert "no call CAnobody" in capsys.readouterr().err
    assert main(["calls", "play", "CAquiet"]) == 1
    assert "call CAquiet has no recording" in capsys.readouterr().err
    assert main(["calls", "play", SID, "--from", "3"]) == 1
    assert "the recording is 3.0 s long" in capsys.readouterr().err
    assert card.streams == []


def test_calls_export_wav_copies_the_recording_byte_for_byte_into_a_private_file(
    stored, db_path, tmp_path, capsys
) -> None:
    wav, _ = stored
    assert main(["calls", "export", SID, "--wav"]) == 0
    default = Path(capsys.readouterr().out.removeprefix("exported to ").strip())
    assert default.parent == db_path.parent / "exports" and default.name.startswith(SID)
    chosen = tmp_path / "for-the-crm.wav"
    assert main(["calls", "export", SID, "--wav", "--out", str(chosen)]) == 0
    into = tmp_path / "outbox"
    into.mkdir()
    assert main(["calls", "export", SID, "--wav", "--out", str(into)]) == 0
    (in_folder,) = into.iterdir()
    for path in (default, chosen, in_folder):
        assert path.read_bytes() == wav.read_bytes()
        assert path.stat().st_mode & 0o777 == 0o600


def test_calls_export_refuses_unknown_calls_and_paths_it_would_overwrite_or_cannot_use(
    stored, tmp_path, capsys
) -> None:
    taken = tmp_path / "taken.wav"
    taken.write_bytes(b"keep me")
    refused = {
        ("CAnobody", "--wav"): "no call CAnobody",
        ("CAquiet", "--wav"): "call CAquiet has no recording",
        (SID, "--wav", "--out", str(taken)): "already exists: not overwritten",
        (SID, "--wav", "--out", str(tmp_path / "x.mp3")): "does not end in .wav",
        (SID, "--wav", "--out", str(tmp_path / "nowhere" / "x.wav")): "no folder",
        (SID, "--json", "--out", str(tmp_path / "x.csv")): "does not end in .json",
    }
    before = sorted(tmp_path.rglob("*"))
    for argv, why in refused.items():
        assert main(["calls", "export", *argv]) == 1, argv
        assert why in capsys.readouterr().err, argv
    assert sorted(tmp_path.rglob("*")) == before and taken.read_bytes() == b"keep me"


def test_calls_export_json_writes_the_call_beside_the_recordings(stored, tmp_path) -> None:
    out = tmp_path / "call.json"
    assert main(["calls", "export", SID, "--json", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert SID in text and "Hello, this is the clinic." in text
    assert out.stat().st_mode & 0o777 == 0o600
