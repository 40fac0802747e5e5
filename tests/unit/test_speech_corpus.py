"""The test corpus of caller sounds (tests/speech.py) has the properties tests rely on."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from console.audio_codec import pcm16_to_mulaw
from tests import speech

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def seconds_of(mulaw: bytes) -> float:
    return len(mulaw) / 8000


def sine(ms: int, amplitude: float = 8000.0) -> bytes:
    t = np.arange(8 * ms) / 8000
    pcm = (amplitude * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()
    return pcm16_to_mulaw(pcm)


@pytest.mark.parametrize(
    ("name", "duration_s"),
    [("two_cities", 44.374), ("beckett", 9.963), ("endgame_nagg_nell", 28.277)],
)
def test_recordings_decode_to_their_documented_durations(name: str, duration_s: float) -> None:
    assert seconds_of(speech.recording(name)) == pytest.approx(duration_s, abs=0.002)


@pytest.mark.parametrize("name", speech.RECORDINGS)
def test_recordings_are_levelled_to_one_speech_level(name: str) -> None:
    loud = np.percentile(speech._frame_dbfs(speech._samples(speech.recording(name))), 95)
    assert loud == pytest.approx(speech.SPEECH_LEVEL_DBFS, abs=0.5)


def test_a_recording_is_read_once() -> None:
    assert speech.recording("beckett") is speech.recording("beckett")


def test_an_unknown_recording_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown recording"):
        speech.recording("hamlet")


def test_voiced_spans_find_a_tone_between_silences() -> None:
    audio = speech.silence(500) + sine(300) + speech.silence(500)
    assert speech.voiced_spans(audio) == [(0.5, 0.8)]


def test_pauses_shorter_than_min_pause_are_bridged() -> None:
    audio = sine(200) + speech.silence(100) + sine(200) + speech.silence(400) + sine(200)
    assert speech.voiced_spans(audio) == [(0.0, 0.5), (0.9, 1.1)]
    assert speech.pauses(audio) == [0.4]
    assert speech.pauses(audio, min_pause_ms=50) == [0.1, 0.4]


def test_a_click_is_not_speech() -> None:
    assert speech.voiced_spans(speech.silence(200) + sine(20) + speech.silence(200)) == []


def test_every_recording_has_pauses_between_phrases() -> None:
    for name in speech.RECORDINGS:
        gaps = speech.pauses(speech.recording(name))
        assert len(gaps) >= 8 and min(gaps) >= 0.15


def test_a_speech_clip_starts_on_a_voiced_frame_and_ends_on_speech() -> None:
    clip = speech.speech_clip("two_cities", 3.0)
    spans = speech.voiced_spans(clip)
    assert spans[0][0] == 0.0
    assert spans[-1][1] == pytest.approx(seconds_of(clip), abs=0.01)
    assert 2.0 <= seconds_of(clip) <= 4.0


def test_a_speech_clip_can_start_later_in_the_recording() -> None:
    early = speech.speech_clip("endgame_nagg_nell", 2.0)
    later = speech.speech_clip("endgame_nagg_nell", 2.0, start_s=10.0)
    assert later != early
    assert speech.voiced_spans(later)[0][0] == 0.0


def test_a_monologue_lasts_about_as_asked_and_never_pauses_longer_than_the_gap() -> None:
    for seed in range(5):
        talk = speech.monologue(20.0, seed=seed)
        assert 19.7 <= seconds_of(talk) <= 20.0
        assert 0.15 <= min(speech.pauses(talk)) and max(speech.pauses(talk)) <= 0.3
        assert speech.voiced_spans(talk)[0][0] == 0.0


def test_a_monologue_takes_other_gaps() -> None:
    talk = speech.monologue(10.0, gaps_ms=(400, 600), seed=3)
    longest = max(speech.pauses(talk, min_pause_ms=400))
    assert 0.4 <= longest <= 0.6


def test_a_monologue_is_the_same_for_a_seed_and_differs_between_seeds() -> None:
    assert speech.monologue(5.0, seed=1) == speech.monologue(5.0, seed=1)
    assert speech.monologue(5.0, seed=1) != speech.monologue(5.0, seed=2)


def test_a_cough_is_loud_at_once_and_has_no_long_tail() -> None:
    burst = speech.cough(250)
    spans = speech.voiced_spans(burst)
    assert seconds_of(burst) == 0.25
    assert spans[0][0] == 0.0 and spans[-1][1] <= 0.2
    loudest = speech._frame_dbfs(speech._samples(burst)).max()
    assert loudest > -16.0
    assert speech.voiced_spans(burst[-400:]) == []  # the last 50 ms are quiet


def test_coughs_differ_by_seed() -> None:
    assert speech.cough(seed=1) != speech.cough(seed=2)


@needs_espeak
@pytest.mark.parametrize("sound", [lambda: speech.backchannel("mhm"), lambda: speech.command()])
def test_spoken_sounds_are_trimmed_of_silence(sound) -> None:
    audio = sound()
    spans = speech.voiced_spans(audio)
    assert spans[0][0] == 0.0
    assert spans[-1][1] == pytest.approx(seconds_of(audio), abs=0.01)
    assert 0.1 <= seconds_of(audio) <= 1.5


def test_with_pause_puts_exactly_the_pause_between_two_sounds() -> None:
    clip = speech.speech_clip("beckett", 1.0)
    joined = speech.with_pause(clip, 400, clip)
    assert seconds_of(joined) == pytest.approx(2 * seconds_of(clip) + 0.4)
    assert 0.4 in speech.pauses(joined)
    assert len(speech.pauses(joined)) == 2 * len(speech.pauses(clip)) + 1
