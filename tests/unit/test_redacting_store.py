"""The storage boundary: what reaches the store writer is redacted as the call's profile says;
what the bus carries is not; each hidden caller span is published for the recording."""

from __future__ import annotations

import pytest

from console import events as ev
from console.storage.redacting import (
    DTMF_TONE_BEFORE_S,
    EVERYTHING,
    RedactingStore,
    RedactionPolicy,
)

CARD = "4111 1111 1111 1111"
MEDICAL = RedactionPolicy(frozenset({"card", "ssn", "dob", "dtmf"}), ("on your keypad",))
POLICIES = {"medical_intake": MEDICAL, "scheduling": RedactionPolicy()}


class Boundary:
    def __init__(self) -> None:
        self.stored: list[ev.CallEvent] = []
        self.published: list[ev.CallEvent] = []
        self.redacting = RedactingStore(self.stored.append, self.published.append,
                                        lambda name: POLICIES.get(name or "", EVERYTHING))

    def start(self, profile: str, sid: str = "CA1") -> None:
        self.redacting(ev.CallStarted(sid, stream_sid="MZ1", profile=profile))

    def feed(self, *events: ev.CallEvent) -> list[ev.CallEvent]:
        for event in events:
            self.redacting(event)
        return self.stored[-len(events):]


@pytest.fixture
def boundary() -> Boundary:
    return Boundary()


def turn(text: str, role: str = "caller", started: float = 100.0, ended: float = 104.0,
         ) -> ev.TurnCompleted:
    return ev.TurnCompleted("CA1", role=role, text=text, started=started, ended=ended)


def test_a_caller_turn_is_stored_redacted_and_the_live_event_keeps_the_raw_text(boundary):
    boundary.start("medical_intake")
    live = turn(f"my card is {CARD} and I have chest pain")
    [stored] = boundary.feed(live)
    assert stored.text == "my card is [card] and I have chest pain"
    assert CARD in live.text  # what triage, the session and the console got is untouched


def test_a_redacted_caller_span_is_published_inside_its_turn(boundary):
    boundary.start("medical_intake")
    said = f"{CARD} is my card and I am calling about a bill from last month"
    boundary.feed(turn(said, started=100.0, ended=104.0))
    [span] = [e for e in boundary.published if isinstance(e, ev.CallerSpanRedacted)]
    assert span.what == "card"
    # The card is the first 19 of 62 characters: about the first 1.2 s of a 4 s turn, padded.
    assert span.started == 100.0
    assert 101.2 < span.ended < 102.1


def test_a_profile_without_redaction_stores_the_words_as_said(boundary):
    boundary.start("scheduling")
    [stored] = boundary.feed(turn(f"my card is {CARD}"))
    assert CARD in stored.text
    assert boundary.published == []


def test_every_event_that_carries_words_is_redacted_before_it_is_stored(boundary):
    boundary.start("medical_intake")
    text = f"card {CARD} and chest pain"
    stored = boundary.feed(
        ev.CallerTranscribed("CA1", text=text, final=True),
        ev.EmergencyDetected("CA1", source="caller", phrase="chest pain", text=text),
        ev.AgentInterrupted("CA1", heard=f"I read back {CARD}", cause="caller-words"),
        ev.OperatorActed("CA1", action="say", actor="ops", detail=f"Your card {CARD} is noted"),
    )
    assert [CARD in str(e.payload()) for e in stored] == [False] * 4
    assert stored[1].phrase == "chest pain"


def test_interim_transcripts_never_reach_the_store(boundary):
    boundary.start("medical_intake")
    boundary.redacting(ev.CallerTranscribed("CA1", text=f"my card is {CARD}", final=False))
    assert [e.kind for e in boundary.stored] == ["CallStarted"]


def test_a_date_of_birth_answering_the_agents_question_is_redacted_and_so_is_its_read_back(
        boundary):
    boundary.start("medical_intake")
    stored = boundary.feed(
        turn("Thank you. And what is your date of birth?", role="agent"),
        turn("March third, nineteen eighty five"),
        turn("Thank you, I have March third, nineteen eighty five. Anything else?", role="agent"),
    )
    assert [e.text for e in stored[1:]] == ["[dob]", "Thank you, I have [dob]. Anything else?"]
    assert [e.kind for e in boundary.published] == ["CallerSpanRedacted"]


def test_a_summary_keeps_no_card_no_ssn_and_no_date_of_birth_field(boundary):
    boundary.start("medical_intake")
    boundary.feed(ev.CallEnded("CA1", reason="caller-hangup"))
    [stored] = boundary.feed(ev.CallSummarized(
        "CA1", summary=f"Caller paid with {CARD}; SSN 123-45-6789.", disposition="resolved",
        action_items=("call back", f"refund card {CARD}"),
        fields=(("name", "Ann Lee"), ("date_of_birth", "1985-03-14"))))
    assert stored.summary == "Caller paid with [card]; SSN [ssn]."
    assert stored.action_items == ("call back", "refund card [card]")
    assert stored.fields == (("name", "Ann Lee"), ("date_of_birth", "[dob]"))


def test_keypad_digits_after_a_sensitive_prompt_are_stored_as_digits_and_muted(boundary):
    boundary.start("medical_intake")
    boundary.feed(ev.AgentSpoke("CA1", text="Please enter your member number on your keypad.",
                                at=50.0))
    keys = [ev.DtmfPressed("CA1", digit=key, at=51.0 + i) for i, key in enumerate("12#")]
    stored = boundary.feed(*keys)
    assert [e.digit for e in stored] == ["[digits]", "[digits]", "#"]
    spans = [(s.what, s.started) for s in boundary.published]
    assert spans == [("dtmf", 51.0 - DTMF_TONE_BEFORE_S), ("dtmf", 52.0 - DTMF_TONE_BEFORE_S)]


def test_keypad_digits_without_a_sensitive_prompt_are_stored(boundary):
    boundary.start("medical_intake")
    boundary.feed(ev.AgentSpoke("CA1", text="Press 1 for the nurse.", at=50.0))
    [stored] = boundary.feed(ev.DtmfPressed("CA1", digit="1", at=51.0))
    assert stored.digit == "1"


def test_a_call_never_seen_starting_uses_the_default_profiles_policy(boundary):
    [stored] = boundary.feed(ev.TurnCompleted("CA9", role="caller", text=f"card {CARD}",
                                              started=1.0, ended=2.0))
    assert stored.text == "card [card]"  # EVERYTHING in this table


def test_an_operator_edit_after_the_summary_is_still_redacted_by_the_calls_profile(boundary):
    boundary.start("medical_intake")
    boundary.feed(ev.CallEnded("CA1", reason="caller"),
                  ev.CallSummarized("CA1", summary="Refund asked.", disposition="resolved"))
    [stored] = boundary.feed(ev.SummaryEdited("CA1", item="summary", old="Refund asked.",
                                              new=f"Refund to card {CARD}.", actor="ana"))
    assert stored.new == "Refund to card [card]."
