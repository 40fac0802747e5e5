"""The risk score as a table: a call's signals in, the score and the reason the board shows out;
and the fold that turns a call's events into those signals, one event at a time."""

from __future__ import annotations

import pytest

from console.events import (
    AgentSpoke,
    AlertRaised,
    CallerTranscribed,
    CallerWentQuiet,
    CallEvent,
    EmergencyDetected,
    ProviderDegraded,
    TransferAttempted,
    TransferFinished,
    TurnCompleted,
    TurnMeasured,
)
from console.risk import ProfileCues, RiskTracker, RiskWeights, Signals, assess
from console.risk.words import near_miss, words_of

W = RiskWeights()
ANGRY = ("ridiculous", "useless", "real person")
PHRASES = ("chest pain", "can't breathe", "heart attack", "stroke", "re:\\bslurr(ed|ing) speech")


@pytest.mark.parametrize(("signals", "score", "top"), [
    (Signals(), 0, ""),
    (Signals(emergency="chest pain", emergency_source="caller"), 100,
     "emergency “chest pain” (caller)"),
    (Signals(alert="This call cannot hear the caller: take over"), 80,
     "alert: This call cannot hear the caller: take over"),
    (Signals(transfers_failed=1, transfer_detail="no-answer"), 40, "transfer failed (no-answer)"),
    (Signals(transfers_failed=5, transfer_detail="busy"), 80, "transfer failed ×5 (busy)"),
    (Signals(near_miss=("chest pain", "chest pains")), 50,
     "sounds like “chest pain” (“chest pains”)"),
    (Signals(repeated=1, repeated_text="when do you open"), 0, ""),  # asked once: no repeat
    (Signals(repeated=2, repeated_text="when do you open"), 15, "asked 2×: “when do you open”"),
    (Signals(repeated=9, repeated_text="why is my bill so high"), 45,
     "asked 9×: “why is my bill so high”"),
    (Signals(negative=["useless", "ridiculous"], negative_count=2), 20,
     "angry words: “useless”, “ridiculous”"),
    (Signals(negative=["useless"], negative_count=7), 40, "angry words: “useless”"),
    (Signals(silences=1, longest_silence_s=8.2), 20, "caller silent 8 s"),
    (Signals(apologies=2), 24, "agent apologized 2×"),
    (Signals(degraded={"groq": "fallback model", "deepgram-tts": "rest"}), 16,
     "degraded: groq, deepgram-tts"),
    (Signals(slow_turns=2, worst_v2v_ms=2140), 12,
     "slow replies: 2 over 1,200 ms (worst 2,140 ms)"),
    # Signals add up; the biggest one is the row's reason.
    (Signals(negative=["useless"], negative_count=1, near_miss=("stroke", "stroak"), apologies=1),
     72, "sounds like “stroke” (“stroak”)"),
    (Signals(emergency="chest pain", emergency_source="agent", transfers_failed=2,
             transfer_detail="503"), 180, "emergency “chest pain” (agent)"),
    # No one noisy signal outranks an emergency: each is capped.
    (Signals(negative=["useless"], negative_count=50, slow_turns=50, worst_v2v_ms=3000), 70,
     "angry words: “useless”"),
])
def test_the_score_adds_each_signal_up_to_its_cap_and_names_the_biggest(signals, score,
                                                                        top) -> None:
    assessment = assess(signals, W)
    assert (assessment.score, assessment.top) == (score, top)


def test_weights_from_settings_change_the_order_of_the_reasons() -> None:
    signals = Signals(apologies=1, slow_turns=1, worst_v2v_ms=1500)
    assert assess(signals, W).top == "agent apologized"
    slow_matters = RiskWeights(slow=50.0)
    assert assess(signals, slow_matters).top.startswith("slow replies: 1 over")
    assert assess(signals, RiskWeights(apology=0.0, slow=0.0)).score == 0


@pytest.mark.parametrize(("said", "found"), [
    ("I think I have chest pains", ("chest pain", "chest pains")),
    ("I cant breath", ("can't breathe", "cant breath")),
    ("my dad might be having a hart attack", ("heart attack", "hart attack")),
    ("I have chest pain", None),  # the exact phrase is triage's emergency, not a near miss
    ("we are on strike tomorrow", None),  # "strike" is not "stroke"
    ("I can breathe fine", None),  # "can" is not "can't": short words must match exactly
    ("my chest is fine and I have no pain", None),  # the words must come together, in order
    ("his speech is slurred", None),  # re: patterns are triage's alone
])
def test_a_near_miss_is_a_misheard_emergency_phrase_not_an_exact_one(said, found) -> None:
    assert near_miss(words_of(said), PHRASES) == found


def call(events: list[CallEvent], cues: ProfileCues | None = None) -> RiskTracker:
    tracker = RiskTracker(W, ANGRY, cues or ProfileCues(PHRASES, "Sorry, I'm having trouble."))
    for event in events:
        tracker.observe(event)
    return tracker


def caller(text: str, at: float = 0.0) -> TurnCompleted:
    return TurnCompleted("CA1", role="caller", text=text, started=at, ended=at, at=at)


@pytest.mark.parametrize(("events", "score", "top"), [
    ([caller("when are you open on Saturday")], 0, ""),
    ([caller("When are you open on Saturday?"), caller("what time"),
      caller("I asked, when are you open on Saturday")], 15,
     "asked 2×: “I asked, when are you open on Saturday”"),
    ([caller("why is my bill so high"), caller("why is my bill so high"),
      caller("why is my bill so high this month")], 30,
     "asked 3×: “why is my bill so high this month”"),
    ([caller("yes"), caller("yes"), caller("yes")], 0, ""),  # answers, not questions
    ([caller("This is ridiculous, I want a real person")], 20,
     "angry words: “ridiculous”, “real person”"),
    ([caller("I'm fine, no problem")], 0, ""),
    # The turn's text can be empty: the finals that made it up are read instead.
    ([CallerTranscribed("CA1", text="my chest pains", final=True),
      caller("")], 50, "sounds like “chest pain” (“chest pains”)"),
    ([AgentSpoke("CA1", text="Sorry, could you say that again?")], 12, "agent apologized"),
    ([AgentSpoke("CA1", text="I'm sorry you're not feeling well.")], 0, ""),  # sympathy
    ([AgentSpoke("CA1", text="Sorry, I'm having trouble.")], 12, "agent apologized"),
    ([ProviderDegraded("CA1", provider="groq", problem="429", fallback="fallback model"),
      ProviderDegraded("CA1", provider="groq", problem="429", fallback="fallback model")], 8,
     "degraded: groq"),
    ([TurnMeasured("CA1", turn=1, stages={"voice_to_voice": 900.0}),
      TurnMeasured("CA1", turn=2, stages={"voice_to_voice": 2500.0})], 6,
     "slow replies: 1 over 1,200 ms (worst 2,500 ms)"),
    ([CallerWentQuiet("CA1", seconds=8.1)], 20, "caller silent 8 s"),
    ([TransferAttempted("CA1", target="+1", attempt=1, ok=True),
      TransferFinished("CA1", target="+1", outcome="no-answer")], 40,
     "transfer failed (no-answer)"),
    ([TransferAttempted("CA1", target="+1", attempt=1, ok=False, detail="Twilio 503")], 40,
     "transfer failed (Twilio 503)"),
    ([TransferFinished("CA1", target="+1", outcome="completed")], 0, ""),
    ([EmergencyDetected("CA1", source="caller", phrase="chest pain", text="chest pain"),
      EmergencyDetected("CA1", source="agent", phrase="EMERGENCY_DETECTED", text="")], 100,
     "emergency “chest pain” (caller)"),
    ([AlertRaised("CA1", level="warning", message="Recording stopped: disk full")], 0, ""),
    ([AlertRaised("CA1", level="critical", message="cannot hear the caller: take over")], 80,
     "alert: cannot hear the caller: take over"),
])
def test_a_calls_events_fold_into_its_score_and_reason(events, score, top) -> None:
    assessment = call(events).assessment
    assert (assessment.score, assessment.top) == (score, top)


def test_a_score_that_goes_up_is_rising_for_the_window_and_then_not() -> None:
    tracker = call([caller("when are you open", at=100.0)])
    assert not tracker.rising(now=101.0, window_s=30.0)
    tracker.observe(caller("this is useless", at=110.0))
    assert tracker.rising(now=139.0, window_s=30.0)
    assert not tracker.rising(now=141.0, window_s=30.0)


def test_without_the_profiles_phrases_there_is_no_near_miss_but_triage_still_counts() -> None:
    tracker = call([caller("I have chest pains")], ProfileCues())
    assert tracker.score == 0
    tracker.observe(EmergencyDetected("CA1", source="caller", phrase="chest pain", text=""))
    assert tracker.score == 100
