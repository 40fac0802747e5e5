"""The fake Deepgram's transcripts by audio position (tests/fakes/deepgram_positions.py and the
recogniser's `transcribe` hook): words follow the audio however the utterances are cut."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.fakes.deepgram_fake import FakeDeepgramOptions
from tests.fakes.deepgram_positions import Clip, ClipTimeline, Phrase, timed_words, words_between
from tests.fakes.deepgram_recognizer import Recognizer, silence, tone

QUERY = {"interim_results": "true", "endpointing": "300", "utterance_end_ms": "1000",
         "vad_events": "true"}  # fmt: skip


def finals(messages: list[dict[str, Any]]) -> list[str]:
    return [m["channel"]["alternatives"][0]["transcript"] for m in messages
            if m["type"] == "Results" and m["is_final"]]  # fmt: skip


def test_a_phrases_words_are_spread_evenly_over_it() -> None:
    timed = timed_words([Phrase(1.0, 2.0, "book a table for"), Phrase(3.0, 3.5, "Friday")])
    assert timed == [(1.125, "book"), (1.375, "a"), (1.625, "table"), (1.875, "for"),
                     (3.25, "Friday")]  # fmt: skip
    assert words_between(timed, 1.0, 1.5) == "book a"
    assert words_between(timed, 1.5, 3.25) == "table for"  # the end is not included


def test_a_clip_is_found_after_any_lead_in_even_split_between_messages() -> None:
    clip = Clip(silence(40) + tone(500), [Phrase(0.04, 0.54, "hello there")])
    timeline = ClipTimeline([clip])
    stream = silence(1000) + clip.audio
    timeline.heard(3, 0, stream[:8270])  # cuts the clip's first voiced frame in two
    timeline.heard(3, 8270, stream[8270:])
    assert timeline.found[3][0][0] == pytest.approx(1.0)
    assert timeline.transcribe(3, 0.0, 1.29) == "hello"
    assert timeline.transcribe(3, 1.29, 2.0) == "there"
    assert timeline.transcribe(4, 0.0, 2.0) == ""  # another socket heard nothing of it


def test_two_clips_that_start_alike_are_refused_unless_a_longer_anchor_tells_them_apart() -> None:
    alike = [Clip(tone(200), []), Clip(tone(100) + tone(100, freq=300.0), [])]
    with pytest.raises(ValueError, match="same frame"):
        ClipTimeline(alike)
    timeline = ClipTimeline(alike, anchor_frames=10)
    timeline.heard(0, 0, silence(100) + alike[1].audio)
    assert [(start, clip is alike[1]) for start, clip in timeline.found[0]] == [(0.1, True)]


def test_the_recognizer_gives_each_utterance_the_words_of_its_own_audio() -> None:
    """Finalize in the middle of a phrase: the words said so far now, the rest with the next
    utterance (a script would have given the whole phrase to the first one)."""
    words = timed_words([Phrase(0.5, 1.5, "one two three four")])
    source = SimpleNamespace(opts=FakeDeepgramOptions(),
                             transcribe=lambda _conn, start, end: words_between(words, start, end))
    rec = Recognizer(source, dict(QUERY), 0)
    out = rec.feed(silence(500) + tone(500))
    out += rec.flush(from_finalize=True)  # at 1.0 s: "one two" were said
    out += rec.feed(tone(500) + silence(400))
    assert finals(out) == ["one two", "three four"]
    assert not any(m["type"] == "UtteranceEnd" for m in out)


def test_without_a_transcriber_the_script_still_rules() -> None:
    script = ["scripted words"]
    source = SimpleNamespace(opts=FakeDeepgramOptions(), transcribe=None,
                             next_transcript=lambda: script[0], transcript_done=script.clear)
    rec = Recognizer(source, dict(QUERY), 0)
    assert finals(rec.feed(tone(400) + silence(400))) == ["scripted words"]
    assert script == []
