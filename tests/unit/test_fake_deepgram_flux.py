"""The fake Flux keeps Deepgram's documented invariants (PROTOCOLS.md 2.3) and its own timing
rules (tests/fakes/deepgram_flux.py), on the audio clock. The recogniser is pure code: audio in,
messages out, so these tests feed it directly, no socket."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes.deepgram_flux import FluxRecognizer, FluxTiming
from tests.fakes.deepgram_recognizer import silence, tone

Timeline = list[tuple[float, dict[str, Any]]]
EAGER = {"eager_eot_threshold": "0.5"}


@dataclass
class Options:
    speech_rms: float = 500.0
    seed: int = 0
    flux: FluxTiming = field(default_factory=FluxTiming)


@dataclass
class Script:
    entries: list[str]
    opts: Options = field(default_factory=Options)
    done: int = 0

    def transcript_at(self, index: int) -> str:
        index += self.done
        return self.entries[index] if index < len(self.entries) else "hello"

    def transcript_done(self) -> None:
        self.done += 1


def recognizer(*entries: str, seed: int = 0, **query: str) -> FluxRecognizer:
    script = Script(list(entries), Options(seed=seed))
    rec = FluxRecognizer(script, {"model": "flux-general-en", **query}, connection=0)
    rec.opening()
    return rec


def hear(rec: FluxRecognizer, *parts: bytes) -> Timeline:
    for part in parts:
        rec.feed(part)
    return rec.log


def events(timeline: Timeline, *, updates: bool = False) -> list[tuple[float, dict[str, Any]]]:
    return [
        (at, m)
        for at, m in timeline
        if m["type"] == "TurnInfo" and (updates or m["event"] != "Update")
    ]


def named(timeline: Timeline) -> list[str]:
    return [m["event"] for _, m in events(timeline)]


def first(timeline: Timeline, event: str) -> tuple[float, dict[str, Any]]:
    return next((at, m) for at, m in events(timeline, updates=True) if m["event"] == event)


def check_invariants(timeline: Timeline) -> None:
    """Everything Deepgram's "Understanding the Flux State Machine" promises of a stream."""
    messages = [m for _, m in timeline]
    assert messages[0]["type"] == "Connected"
    assert [m["sequence_id"] for m in messages] == list(range(len(messages)))
    eager: str | None = None  # the standing EagerEndOfTurn transcript
    previous = "EndOfTurn"
    index = 0
    for _, m in events(timeline, updates=True):
        event = m["event"]
        assert m["turn_index"] == index
        assert ("trigger" in m) == (event == "EndOfTurn")
        if event == "StartOfTurn":
            assert previous == "EndOfTurn" and m["transcript"]
        elif event == "EagerEndOfTurn":
            assert eager is None and m["transcript"]
            eager = m["transcript"]
        elif event == "TurnResumed":
            assert eager is not None, "TurnResumed with no EagerEndOfTurn before it"
            eager = None
        elif event == "EndOfTurn":
            assert eager is None or m["transcript"] == eager
            eager, index = None, index + 1
        elif eager is not None:  # an Update while the eager end stands: the text is unchanged
            assert m["transcript"] == eager
        if event != "Update":
            previous = event


def test_connected_comes_first_and_silence_gets_empty_updates_every_quarter_second() -> None:
    timeline = hear(recognizer(), silence(1000))
    assert timeline[0][1]["type"] == "Connected"
    updates = events(timeline, updates=True)
    assert [at for at, _ in updates] == [0.26, 0.52, 0.78]  # 0.25 s, to the next 20 ms frame
    assert all(m["event"] == "Update" and m["transcript"] == "" for _, m in updates)


def test_start_of_turn_comes_with_the_first_word_a_short_while_after_the_onset() -> None:
    for seed in range(20):
        timeline = hear(recognizer("I'd like to book", seed=seed), silence(300), tone(1000))
        at, start = first(timeline, "StartOfTurn")
        assert 0.25 <= at - 0.3 <= 0.40 + 0.02
        assert start["transcript"] == "I'd"


def test_updates_grow_the_transcript_about_every_quarter_second_of_speech() -> None:
    timeline = hear(
        recognizer("one two three four five six seven", **EAGER), silence(300), tone(3000)
    )
    infos = events(timeline, updates=True)
    gaps = [(b - a, m["event"]) for (a, _), (b, m) in zip(infos, infos[1:], strict=False)]
    assert gaps and all(0.24 <= gap <= 0.27 for gap, event in gaps if event == "Update")
    texts = [m["transcript"] for _, m in infos if m["transcript"]]
    assert texts == sorted(texts, key=len) and len(set(texts)) >= 4


def test_eager_then_end_of_turn_with_the_same_text_at_the_documented_latency() -> None:
    timeline = hear(
        recognizer("I'd like to book an appointment", **EAGER),
        silence(300),
        tone(1000),
        silence(1000),
    )
    assert named(timeline) == ["StartOfTurn", "EagerEndOfTurn", "EndOfTurn"]
    (eager_at, eager), (end_at, end) = (
        first(timeline, "EagerEndOfTurn"),
        first(timeline, "EndOfTurn"),
    )
    assert eager["transcript"] == end["transcript"] == "I'd like to book an appointment"
    assert end_at - 1.3 == pytest.approx(0.26, abs=0.021)  # Deepgram: ~260 ms
    assert end_at - eager_at == pytest.approx(0.15, abs=0.021)  # eager 0.5: ~150 ms sooner
    assert end["trigger"] == "model" and end["turn_index"] == 0
    check_invariants(timeline)


def test_higher_thresholds_fire_later() -> None:
    def end_after(**query: str) -> float:
        timeline = hear(recognizer("Book it", **query), silence(300), tone(800), silence(1500))
        return first(timeline, "EndOfTurn")[0] - 1.1

    def eager_after(threshold: str) -> float:
        timeline = hear(
            recognizer("Book it", eager_eot_threshold=threshold),
            silence(300),
            tone(800),
            silence(1500),
        )
        return first(timeline, "EagerEndOfTurn")[0] - 1.1

    assert end_after(eot_threshold="0.5") < end_after() < end_after(eot_threshold="0.9")
    assert eager_after("0.3") < eager_after("0.5") < eager_after("0.7")


def test_no_eager_events_unless_eager_eot_threshold_is_set() -> None:
    timeline = hear(recognizer("Book it"), silence(300), tone(800), silence(1000))
    assert named(timeline) == ["StartOfTurn", "EndOfTurn"]


@pytest.mark.parametrize("resumed_ms", [600, 100], ids=["announced", "shorter-than-the-delay"])
def test_speech_after_an_eager_end_is_turn_resumed_and_the_end_follows_the_new_text(
    resumed_ms: int,
) -> None:
    """Resumed speech too short for TurnResumed's delay still gets it, owed, before the text
    changes (Deepgram: if the transcript changes after an EagerEndOfTurn, TurnResumed first)."""
    timeline = hear(
        recognizer("I'd like to book", "an appointment", **EAGER),
        silence(300),
        tone(800),
        silence(150),
        tone(resumed_ms),
        silence(1000),
    )
    resumed = ["StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EagerEndOfTurn", "EndOfTurn"]
    assert named(timeline) == resumed
    assert first(timeline, "EndOfTurn")[1]["transcript"] == "I'd like to book an appointment"
    check_invariants(timeline)


def test_an_unfinished_sentence_waits_for_the_timeout() -> None:
    timeline = hear(
        recognizer("I want a pizza with", eot_timeout_ms="1000", **EAGER),
        silence(300),
        tone(1000),
        silence(1500),
    )
    assert named(timeline) == ["StartOfTurn", "EndOfTurn"]  # no eager end either
    at, end = first(timeline, "EndOfTurn")
    assert end["trigger"] == "timeout" and at - 1.3 == pytest.approx(1.0, abs=0.021)


def test_an_unfinished_sentence_the_caller_finishes_ends_on_the_model() -> None:
    timeline = hear(
        recognizer("I want a pizza with", "mushrooms", **EAGER),
        silence(300),
        tone(1000),
        silence(600),
        tone(500),
        silence(1000),
    )
    assert named(timeline) == ["StartOfTurn", "EagerEndOfTurn", "EndOfTurn"]
    end = first(timeline, "EndOfTurn")[1]
    assert (end["transcript"], end["trigger"]) == ("I want a pizza with mushrooms", "model")


def test_noise_starts_no_turn_and_updates_stay_empty() -> None:
    timeline = hear(
        recognizer("", "Hello there", **EAGER),
        silence(300),
        tone(400),
        silence(1000),
        tone(600),
        silence(1000),
    )
    assert named(timeline) == ["StartOfTurn", "EagerEndOfTurn", "EndOfTurn"]
    assert first(timeline, "EndOfTurn")[1]["transcript"] == "Hello there"
    assert all(m["transcript"] == "" for at, m in events(timeline, updates=True) if at < 1.9)


def test_noise_after_an_eager_end_neither_resumes_nor_holds_the_turn() -> None:
    rec = recognizer("Book it", "", **EAGER)
    timeline = hear(rec, silence(300), tone(800), silence(150), tone(300), silence(500))
    assert named(timeline) == ["StartOfTurn", "EagerEndOfTurn", "EndOfTurn"]
    assert first(timeline, "EndOfTurn")[0] - 1.1 == pytest.approx(0.26, abs=0.021)


def test_turn_index_increments_after_each_end_of_turn() -> None:
    timeline = hear(
        recognizer("One.", "Two.", "Three.", **EAGER),
        *(part for _ in range(3) for part in (tone(600), silence(800))),
    )
    ends = [m for _, m in events(timeline) if m["event"] == "EndOfTurn"]
    assert [(m["turn_index"], m["transcript"]) for m in ends] == [
        (0, "One."),
        (1, "Two."),
        (2, "Three."),
    ]
    check_invariants(timeline)


def test_script_entries_are_consumed_only_when_their_turn_ends() -> None:
    """A socket dropped mid-turn replays the turn: it must hear the same words again."""
    rec = recognizer("I'd like to book", "an appointment", **EAGER)
    hear(rec, silence(300), tone(800), silence(150), tone(300))
    assert rec.fake.done == 0  # type: ignore[attr-defined]
    hear(rec, silence(1000))
    assert rec.fake.done == 2  # type: ignore[attr-defined]


def test_force_end_turn_ends_the_turn_at_once_on_everything_said() -> None:
    rec = recognizer("I'd like to book an appointment", **EAGER)
    hear(rec, silence(300), tone(1000), silence(40))
    replies, close = rec.control({"type": "ForceEndTurn"})
    assert not close and [m["event"] for m in replies] == ["EndOfTurn"]
    assert (replies[0]["trigger"], replies[0]["transcript"]) == (
        "manual",
        "I'd like to book an appointment",
    )
    assert rec.control({"type": "ForceEndTurn"}) == ([], False)  # no turn: ignored
    check_invariants(rec.log)


def test_force_end_turn_mid_resumption_resumes_first() -> None:
    rec = recognizer("I'd like to book", "an appointment", **EAGER)
    hear(rec, silence(300), tone(800), silence(150), tone(100))  # resumption not announced
    replies, _ = rec.control({"type": "ForceEndTurn"})
    assert [m["event"] for m in replies] == ["TurnResumed", "EndOfTurn"]
    check_invariants(rec.log)


def test_close_stream_ends_the_open_turn_then_closes() -> None:
    rec = recognizer("Book it", **EAGER)
    hear(rec, silence(300), tone(200))  # too short for StartOfTurn yet: it is owed
    replies, close = rec.control({"type": "CloseStream"})
    assert close and [m["event"] for m in replies] == ["StartOfTurn", "EndOfTurn"]
    assert [m["transcript"] for m in replies] == ["Book it", "Book it"]


def test_configure_is_answered_and_changes_the_thresholds() -> None:
    rec = recognizer(**EAGER)
    [ok], _ = rec.control({"type": "Configure", "thresholds": {"eot_threshold": 0.9}})
    assert ok["type"] == "ConfigureSuccess" and ok["thresholds"] == {
        "eot_threshold": 0.9,
        "eager_eot_threshold": 0.5,
        "eot_timeout_ms": 5000,
    }
    [refused], _ = rec.control({"type": "Configure", "thresholds": {"eager_eot_threshold": 0.95}})
    assert refused["type"] == "ConfigureFailure" and "eager_eot_threshold" in refused["description"]
    assert rec.thresholds.eot == 0.9 and rec.thresholds.eager == 0.5


@pytest.mark.parametrize("seed", range(25))
def test_random_speech_and_pauses_keep_every_documented_invariant(seed: int) -> None:
    rng = random.Random(seed)
    entries = [
        rng.choice(["Yes.", "I'd like to book", "and then", "", "my card, um"]) for _ in range(30)
    ]
    rec = recognizer(
        *entries,
        seed=seed,
        eot_timeout_ms="1000",
        eager_eot_threshold=rng.choice(["0.3", "0.5", "0.7"]),
    )
    parts = [
        tone(rng.randrange(40, 1500, 20)) if i % 2 else silence(rng.randrange(20, 1600, 20))
        for i in range(24)
    ]
    if rng.random() < 0.5:
        hear(rec, *parts[:12])
        rec.control({"type": "ForceEndTurn"})
        parts = parts[12:]
    hear(rec, *parts)
    rec.control({"type": "CloseStream"})
    check_invariants(rec.log)
    infos = events(rec.log, updates=True)
    gaps = [b - a for (a, _), (b, _) in zip(infos, infos[1:], strict=False)]
    assert all(gap <= 0.27 for gap in gaps)  # something at least every 0.25 s of audio
