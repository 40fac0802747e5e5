"""The replay engine, the WSOLA stretch, reading and exporting call recordings, and the turn
under the playhead: pure logic and small files, no sound card."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from console.replay.engine import ReplayEngine
from console.replay.recording import (
    RecordingUnavailable,
    export_recording,
    read_recording,
    recording_of,
    turn_at,
    wav_export_path,
)
from console.replay.stretch import Stretcher
from console.storage.records import CallRecord, TurnRecord
from tests.recordings import RATE, noise_recording, write_recording


def tone(hz: float, seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def pitch(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * RATE / len(samples))


def stretched(samples: np.ndarray, speed: float) -> np.ndarray:
    stretcher = Stretcher(samples, 0, speed)
    out = []
    while not stretcher.exhausted:
        out.append(stretcher.read(160))
    return np.concatenate(out)


@pytest.mark.parametrize("speed", [1.5, 2.0])
def test_faster_replay_is_shorter_by_the_speed_and_keeps_the_voice_pitch(speed: float) -> None:
    voice = tone(220, 3.0) // 2 + tone(660, 3.0) // 2  # a low voice and its third harmonic
    out = stretched(voice, speed)
    assert len(out) / RATE == pytest.approx(3.0 / speed, abs=0.04)
    middle = out[len(out) // 4 : len(out) // 4 + RATE // 2]
    assert pitch(middle) == pytest.approx(220, abs=4)  # resampling would say 220 * speed
    assert middle.std() == pytest.approx(voice.std(), rel=0.1)  # no level dips at the seams


def test_engine_plays_the_samples_in_order_then_silence_and_says_it_ended() -> None:
    samples = np.arange(1, 401, dtype=np.int16)
    engine = ReplayEngine(samples)
    assert not engine.fill(160).any()  # paused until played
    engine.play()
    assert np.array_equal(engine.fill(300), samples[:300])
    tail = engine.fill(160)
    assert np.array_equal(tail[:100], samples[300:]) and not tail[100:].any()
    assert engine.ended.is_set() and not engine.playing and engine.position == 0.05
    engine.play()  # again after the end: from the start
    assert np.array_equal(engine.fill(10), samples[:10])


def test_engine_seek_skip_and_speed_move_the_playhead_within_the_recording() -> None:
    engine = ReplayEngine(np.ones(10 * RATE, dtype=np.int16))
    engine.seek(4.0)
    engine.skip(5.0)
    assert engine.position == 9.0
    engine.skip(5.0)
    assert engine.position == 10.0
    engine.skip(-15.0)
    assert engine.position == 0.0
    assert [engine.next_speed() for _ in range(3)] == [1.5, 2.0, 1.0]
    engine.set_speed(2.0)
    engine.play()
    engine.fill(RATE)  # one second heard
    assert engine.position == pytest.approx(2.0, abs=0.04)
    with pytest.raises(ValueError):
        engine.set_speed(3.0)


def test_the_turn_under_the_playhead_is_the_newest_voice_and_none_in_silence() -> None:
    spans = [
        (100.5, 104.0),  # the agent
        (103.0, 105.0),  # the caller cuts in at 3 s
        (None, None),  # never finished
        (107.0, 108.0),
    ]
    turns = [TurnRecord(id=i, call_sid="CA1", idx=i, role="caller", text="", started=start,
                        ended=end) for i, (start, end) in enumerate(spans)]
    assert [turn_at(turns, 100.0, s) for s in (0.2, 0.5, 2.0, 3.5, 4.5, 6.0, 7.5, 9.0)] == [
        None, 0, 0, 1, 1, None, 3, None,
    ]  # fmt: skip


def test_a_recording_reads_as_both_channels_summed_and_clipped(tmp_path: Path) -> None:
    caller = np.array([1000, 30000, -30000, 0], dtype=np.int16)
    heard = np.array([-200, 30000, -30000, 7], dtype=np.int16)
    path = write_recording(tmp_path / "r.wav", caller, heard)
    assert read_recording(path).tolist() == [800, 32767, -32768, 7]


def test_a_file_that_is_no_call_recording_is_refused_with_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "cd.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(b"\0" * 400)
    with pytest.raises(RecordingUnavailable, match="2 channel\\(s\\), 16-bit, 44100 Hz"):
        read_recording(path)
    (tmp_path / "junk.wav").write_bytes(b"not a wav")
    with pytest.raises(RecordingUnavailable, match="cannot read"):
        read_recording(tmp_path / "junk.wav")


def test_a_call_without_a_recording_or_with_its_file_gone_says_which(tmp_path: Path) -> None:
    with pytest.raises(RecordingUnavailable, match="call CA1 has no recording"):
        recording_of(CallRecord("CA1", recording_path=None))
    with pytest.raises(RecordingUnavailable, match="missing"):
        recording_of(CallRecord("CA1", recording_path=str(tmp_path / "gone.wav")))


def test_an_exported_recording_is_a_private_byte_for_byte_copy_that_overwrites_nothing(
    tmp_path: Path,
) -> None:
    source, _ = noise_recording(tmp_path / "rec.wav", 0.5)
    exports = tmp_path / "exports"
    path = export_recording(source, wav_export_path(exports, "CA1"))
    assert path.parent == exports and path.name.startswith("CA1-") and path.suffix == ".wav"
    assert path.read_bytes() == source.read_bytes()
    assert (path.stat().st_mode & 0o777, exports.stat().st_mode & 0o777) == (0o600, 0o700)
    with pytest.raises(RecordingUnavailable, match="already exists"):
        export_recording(source, path)
    for stem in ("../x", "a/b", ""):
        with pytest.raises(RecordingUnavailable, match="not an export name"):
            wav_export_path(exports, stem)
    assert sorted(p.name for p in exports.iterdir()) == [path.name]  # no temporary left behind
