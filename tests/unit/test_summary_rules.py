"""The post-call summary without a model: a profile's [summary] section is validated like the rest
of the profile, and the rules extractor turns a call into a disposition, fields and at most three
sentences, the same way every time. Also: how a model's JSON answer is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.profiles import ProfileError, load_profile, load_profile_file
from console.summary.facts import CallFacts, sentence_count
from console.summary.llm import InvalidSummary, parse_answer, schema_for
from console.summary.rules import summarize_by_rules

HEAD = """
system_prompt = "You answer the phone."
greeting = "Hello, how can I help?"
"""


def call(*said: str, seconds: float = 60.0, emergency: str = "") -> CallFacts:
    facts = CallFacts("CAx", "scheduling", started=1000.0, ended=1000.0 + seconds,
                      end_reason="caller hung up")
    facts.turns = [("agent", "Maple Street Dental, how can I help?")]
    facts.turns += [("caller", text) for text in said]
    facts.emergencies = [emergency] if emergency else []
    return facts


SCHEDULING = load_profile("scheduling")


def test_a_booking_with_a_time_is_booked_with_the_time_name_and_number() -> None:
    outcome = summarize_by_rules(call("Hi, I want to book a checkup.",
                                      "My name is Ana Ruiz, my number is 415 555 0199.",
                                      "Friday at 3 pm, please."), SCHEDULING)
    assert outcome.disposition == "booked"
    assert dict(outcome.fields) == {"name": "Ana Ruiz", "callback_number": "4155550199",
                                    "requested_time": "Friday at 3 pm", "visit": "checkup"}
    assert [name for name, _ in outcome.fields] == ["name", "callback_number", "requested_time",
                                                    "visit"]  # the profile's order
    assert outcome.summary.startswith("Ana Ruiz called the Appointment scheduling line.")
    assert sentence_count(outcome.summary) <= 3
    assert outcome.action_items == ("Put Ana Ruiz in the diary for Friday at 3 pm.",
                                    "Send a confirmation to 4155550199.")


def test_a_booking_without_a_time_needs_a_callback() -> None:
    outcome = summarize_by_rules(call("I'd like an appointment", "My name is Ana Ruiz"),
                                 SCHEDULING)
    assert outcome.disposition == "needs-callback"
    assert outcome.action_items == ("Call Ana Ruiz back on (not given).",)


def test_an_emergency_escalates_whatever_else_was_said() -> None:
    outcome = summarize_by_rules(call("Book me Tuesday at nine, I can't breathe",
                                      emergency="can't breathe"), SCHEDULING)
    assert outcome.disposition == "escalated"
    assert "(can't breathe)" in outcome.summary


@pytest.mark.parametrize(("said", "seconds"), [((), 40.0), (("um hello",), 4.0)])
def test_a_caller_who_said_nothing_or_left_at_once_abandoned_the_call(said, seconds) -> None:
    assert summarize_by_rules(call(*said, seconds=seconds), SCHEDULING).disposition == "abandoned"


def test_a_quick_call_that_booked_is_booked_not_abandoned() -> None:
    outcome = summarize_by_rules(call("book a cleaning monday at ten", seconds=5.0), SCHEDULING)
    assert outcome.disposition == "booked"


def test_a_later_correction_replaces_the_earlier_value() -> None:
    outcome = summarize_by_rules(call("Book Monday at nine", "Actually, Thursday at ten"),
                                 SCHEDULING)
    assert dict(outcome.fields)["requested_time"] == "Thursday at ten"


@pytest.mark.parametrize(("section", "field", "problem"), [
    ('dispositions = ["booked", "booked"]', "summary.dispositions", "twice"),
    ('dispositions = ["Booked!"]', "summary.dispositions[0]", "lower-case"),
    ('default = "sold"', "summary.default", "'sold' is not one of"),
    ('[[summary.rules]]\ndisposition = "sold"\nkeywords = ["x"]',
     "summary.rules[0].disposition", "'sold' is not one of"),
    ('[[summary.rules]]\ndisposition = "resolved"', "summary.rules[0].disposition",
     "needs a condition"),
    ('[[summary.rules]]\ndisposition = "resolved"\nrequires = ["when"]',
     "summary.rules[0].requires[0]", "'when' is not one of"),
    ('[[summary.fields]]\nname = "when"\npatterns = ["monday"]', "summary.fields[0].patterns[0]",
     "needs a group"),
    ('[[summary.fields]]\nname = "when"\npatterns = ["(unclosed"]',
     "summary.fields[0].patterns[0]", "bad regular expression"),
    ('[[summary.fields]]\nname = "when"\nkind = "date"', "summary.fields[0].kind", "not one of"),
    ('default_actions = ["Call {who}"]', "summary.default_actions[0]", "{who} is neither"),
    ("colour = 1", "summary.colour", "unknown field"),
])
def test_an_invalid_summary_section_names_its_file_field_and_problem(
    tmp_path: Path, section: str, field: str, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    body = section if section.startswith("[[") else f"[summary]\n{section}"
    path.write_text(f"{HEAD}\n{body}\n", encoding="utf-8")
    with pytest.raises(ProfileError) as raised:
        load_profile_file(path)
    assert (raised.value.field, raised.value.path) == (field, path)
    assert problem in raised.value.problem


def test_a_profile_without_a_summary_section_gets_the_default_dispositions(tmp_path) -> None:
    path = tmp_path / "plain.toml"
    path.write_text(HEAD, encoding="utf-8")
    profile = load_profile_file(path)
    assert profile.summary.dispositions == ("resolved", "escalated", "abandoned",
                                            "needs-callback")
    outcome = summarize_by_rules(call("hello there, a question"), profile)
    assert (outcome.disposition, outcome.fields) == ("needs-callback", ())


# --- the model's answer ---------------------------------------------------------------------------


def answer(**changes: object) -> str:
    good = {"summary": "Ana booked. Friday at three.", "disposition": "booked",
            "action_items": ["Text Ana.", "  "], "fields": {"visit": "cleaning", "name": None,
                                                          "pet": "cat", "requested_time": 3}}
    return json.dumps({**good, **changes})


def test_a_good_answer_keeps_the_profile_fields_and_drops_the_rest() -> None:
    outcome = parse_answer(answer(), SCHEDULING)
    assert outcome.source == "llm" and outcome.action_items == ("Text Ana.",)
    assert outcome.fields == (("requested_time", "3"), ("visit", "cleaning"))


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (answer(disposition="sold"), "'sold' is not one of"),
    (answer(summary="One. Two. Three. Four."), "longer than 3 sentences"),
    (answer(summary=""), "no summary"),
    (answer(action_items="call back"), "not a list of strings"),
])
def test_an_answer_the_profile_cannot_accept_is_refused(text: str, problem: str) -> None:
    with pytest.raises(InvalidSummary, match=problem):
        parse_answer(text, SCHEDULING)


def test_the_schema_offers_only_the_profile_dispositions_and_fields_strictly() -> None:
    schema = schema_for(SCHEDULING)
    assert schema["properties"]["disposition"]["enum"] == list(SCHEDULING.summary.dispositions)
    fields = schema["properties"]["fields"]
    assert fields["required"] == ["name", "callback_number", "requested_time", "visit"]
    # Groq's strict mode: every property required, nothing else allowed, at every level.
    assert schema["additionalProperties"] is False and fields["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])


def test_sentences_are_counted_at_stops_before_a_capital_or_the_end() -> None:
    assert sentence_count("Booked for 10 a.m. tomorrow. Call back.") == 2
    assert sentence_count("no stop at all") == 1
    assert sentence_count("One. Two! Three? Four.") == 4
