"""How the caller's voice ended (console/calls/prosody.py): on voices with a known pitch
contour, and on real speech whose sentence ends and mid-sentence pauses are known."""

from __future__ import annotations

import pytest

from console.calls.prosody import Ending, ending_of
from tests.speech import cough, hum, recording, silence, voiced_spans

# (pitch at the start, at the end, the ending heard): a man's and a woman's register
GLIDES = [
    (120, 120, Ending.LEVEL),  # a plateau
    (220, 220, Ending.LEVEL),
    (110, 140, Ending.LEVEL),  # a slow drift up over a whole phrase is no high rise
    (200, 260, Ending.LEVEL),
    (130, 90, Ending.FALLING),  # a final fall
    (240, 170, Ending.FALLING),
]


@pytest.mark.parametrize(("start_hz", "end_hz", "ending"), GLIDES)
def test_the_ending_of_a_voice_with_a_known_pitch_glide(start_hz, end_hz, ending) -> None:
    assert ending_of(hum(1200, start_hz, end_hz) + silence(300)).ending is ending


def test_a_fall_only_in_the_last_300_ms_is_a_final_fall() -> None:
    voice = hum(1000, 150, 150) + hum(300, 150, 115)
    assert ending_of(voice + silence(200)).ending is Ending.FALLING


def test_a_climb_in_the_last_300_ms_is_a_high_rise_and_a_small_one_is_level() -> None:
    assert ending_of(hum(1000, 150, 150) + hum(300, 150, 190) + silence(200)).ending is \
        Ending.RISING
    assert ending_of(hum(1000, 150, 150) + hum(300, 150, 165) + silence(200)).ending is \
        Ending.LEVEL


def test_the_silence_after_the_voice_is_not_its_ending() -> None:
    assert ending_of(hum(1200, 130, 90) + silence(1500)).ending is Ending.FALLING


def test_no_voice_has_no_ending() -> None:
    assert ending_of(b"").ending is Ending.UNKNOWN
    assert ending_of(silence(2000)).ending is Ending.UNKNOWN
    assert ending_of(hum(100, 120, 120)).ending is Ending.UNKNOWN  # too short to tell
    assert ending_of(cough(300) + silence(200)).ending is Ending.UNKNOWN  # noise has no pitch


def _ending_at(name: str, near_s: float) -> Ending:
    """How the speaker's voice ended at the voiced span ending nearest `near_s`."""
    audio = recording(name)
    end = min((span[1] for span in voiced_spans(audio)), key=lambda e: abs(e - near_s))
    at = round(end * 8000)
    return ending_of(audio[max(0, at - 16000) : at + 1600]).ending


# Real speech (the moonshine-voice recordings): sentence ends that fall or rise high, and a reader
# holding the pitch level inside one long sentence (A Tale of Two Cities).
REAL = [
    ("beckett", 7.40, Ending.FALLING),  # "Fail again."
    ("beckett", 5.50, Ending.FALLING),  # "[Try] again."
    ("endgame_nagg_nell", 21.84, Ending.FALLING),  # "It's what you were in pain." (sic)
    ("two_cities", 41.63, Ending.FALLING),  # "...in the superlative degree of comparison only."
    ("beckett", 4.10, Ending.RISING),  # "No matter." said as if asking
    ("two_cities", 2.68, Ending.LEVEL),  # pauses inside its one long sentence
    ("two_cities", 16.47, Ending.LEVEL),
]


@pytest.mark.parametrize(("name", "near_s", "ending"), REAL)
def test_real_sentence_ends_fall_and_a_reader_mid_sentence_holds_up(name, near_s, ending):
    assert _ending_at(name, near_s) is ending
