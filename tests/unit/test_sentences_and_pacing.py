"""Sentence chunking, the playout pacer and turn detection: small parts the pipeline leans on."""

from __future__ import annotations

import asyncio

import pytest

from console.calls.pacing import FRAME_BYTES, Pacer
from console.calls.playback import SpokenLog
from console.calls.sentences import SentenceChunker
from console.calls.turns import TurnDetector, is_backchannel
from console.providers.base import TranscriptEvent
from tests.unit.session_fakes import RecordingSender


def chunk(tokens: list[str]) -> list[str]:
    chunker = SentenceChunker()
    out = [s for t in tokens for s in chunker.feed(t)]
    rest = chunker.flush()
    return out + ([rest] if rest else [])


def test_a_sentence_is_released_as_soon_as_its_end_is_certain():
    chunker = SentenceChunker()
    assert chunker.feed("Hello there") == []
    assert chunker.feed(". How") == ["Hello there."]


def test_abbreviations_do_not_end_a_sentence():
    assert chunk(["Yes. ", "Dr. Smith can see you at ", "3 p.m. tomorrow. ", "Okay?"]) == [
        "Yes.",
        "Dr. Smith can see you at 3 p.m. tomorrow.",
        "Okay?",
    ]


def test_a_word_ending_like_an_abbreviation_still_ends_the_sentence():
    assert chunk(["It is on the first. ", "Then left."]) == ["It is on the first.", "Then left."]


def test_a_run_on_sentence_is_cut_at_a_clause_so_speech_can_start():
    long = "word " * 30 + ", and then " + "more " * 10
    pieces = chunk(["Yes. ", long])
    assert len(pieces) == 3 and pieces[1].endswith(",")


def test_finals_join_until_speech_final():
    detector = TurnDetector()
    assert detector.feed(TranscriptEvent("final", "book a", False, 1.0)) is None
    turn = detector.feed(TranscriptEvent("final", "table", True, 2.0))
    assert turn is not None and turn.text == "book a table"


def test_utterance_end_closes_a_turn_that_missed_speech_final():
    detector = TurnDetector()
    detector.feed(TranscriptEvent("final", "hello", False, 1.0))
    turn = detector.feed(TranscriptEvent("utterance-end", at=2.0))
    assert turn is not None and turn.text == "hello"


@pytest.mark.parametrize(("said", "backchannel"), [
    ("mhm", True), ("Mhm.", True), ("yeah okay", True), ("Uh-huh.", True), ("I see.", True),
    ("", True), ("Stop.", False), ("wait", False), ("No.", False), ("hold on", False),
    ("yeah but wait", False),
])
def test_only_backchannel_words_are_backchannels_and_one_word_commands_are_not(said, backchannel):
    assert is_backchannel(said) is backchannel


def test_an_empty_speech_final_ends_a_turn_whose_words_came_earlier():
    detector = TurnDetector()
    assert detector.feed(TranscriptEvent("final", "I'd like to book", False, 1.0)) is None
    turn = detector.feed(TranscriptEvent("final", "", True, 1.4))
    assert turn is not None and turn.text == "I'd like to book"


def test_heard_text_cuts_the_sentence_in_progress():
    log = SpokenLog()
    first = log.begin("One two three four.", 0)
    first.end_frame, first.mark = 10, "a"
    second = log.begin("Five six seven eight.", 10)
    second.end_frame, second.mark = 20, "b"
    assert log.heard_text(15) == "One two three four. Five six—"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_pacer_sends_at_most_lead_ahead_of_playout():
    sender = RecordingSender()
    clock = FakeClock()
    pacer = Pacer(sender, lead_s=0.1, clock=clock)
    pacer.enqueue_audio(b"\x10" * FRAME_BYTES * 20)
    task = asyncio.create_task(pacer.run())
    await sender.changed.wait()
    for _ in range(20):
        await asyncio.sleep(0)
    # 100 ms of lead = 5 frames, plus the one that starts playing now.
    assert sender.kinds().count("media") == 6
    task.cancel()


async def test_clear_drops_queued_frames_and_nothing_follows_it():
    sender = RecordingSender()
    pacer = Pacer(sender, lead_s=0.04)
    pacer.enqueue_audio(b"\x10" * FRAME_BYTES * 50)
    pacer.end_segment("m1")
    task = asyncio.create_task(pacer.run())
    await sender.changed.wait()
    await pacer.clear()
    for _ in range(50):  # let the pacer loop run: a surviving frame would show up here
        await asyncio.sleep(0)
    kinds = sender.kinds()
    assert kinds[-1] == "clear" and "mark" not in kinds
    assert kinds.count("media") < 10
    task.cancel()


def test_partial_frames_join_across_chunks_and_pad_only_at_segment_end():
    pacer = Pacer(RecordingSender())
    pacer.enqueue_audio(b"\x10" * 100)
    pacer.enqueue_audio(b"\x10" * 100)
    assert pacer.frames_enqueued == 1
    pacer.end_segment("m")
    assert pacer.frames_enqueued == 2


def test_a_sentence_ending_a_token_is_released_without_waiting_for_the_next():
    chunker = SentenceChunker()
    assert chunker.feed("Yes.") == ["Yes."]
    assert chunker.feed(" Okay,") == []
    assert chunker.feed(" noted.") == ["Okay, noted."]


def test_a_number_or_initial_before_the_stop_waits_for_the_next_token():
    chunker = SentenceChunker()
    assert chunker.feed("It costs 3.") == []
    assert chunker.feed("50 dollars. ") == ["It costs 3.50 dollars."]
    assert chunker.feed("Ask John F.") == []
    assert chunker.feed(" Kennedy.") == ["Ask John F. Kennedy."]


async def test_frames_held_up_past_the_playout_clock_count_as_late():
    sender = RecordingSender()
    clock = FakeClock()
    pacer = Pacer(sender, lead_s=0.1, clock=clock)
    pacer.enqueue_audio(b"\x10" * FRAME_BYTES * 20)
    task = asyncio.create_task(pacer.run())
    await sender.changed.wait()
    for _ in range(10):
        await asyncio.sleep(0)
    assert pacer.frames_sent == 6 and pacer.late_frames == 0
    clock.now += 0.5  # the loop stalled half a second while 14 frames were ready
    async with asyncio.timeout(2):
        while pacer.frames_sent < 20:
            sender.changed.clear()
            await sender.changed.wait()
    # One audible gap: the first frame after the stall was late; the rest follow it on time.
    assert pacer.late_frames == 1
    assert pacer.worst_lateness_s > 0.3  # 0.5 s stall minus the 120 ms already sent ahead
    task.cancel()


async def test_audio_that_arrives_after_a_gap_is_not_late():
    sender = RecordingSender()
    clock = FakeClock()
    pacer = Pacer(sender, lead_s=0.1, clock=clock)
    task = asyncio.create_task(pacer.run())
    clock.now += 5.0  # a long pause between replies
    pacer.enqueue_audio(b"\x10" * FRAME_BYTES * 3)
    await sender.changed.wait()
    for _ in range(10):
        await asyncio.sleep(0)
    assert pacer.frames_sent == 3 and pacer.late_frames == 0
    task.cancel()
