"""The scripted responder answers callers from a profile's script, tolerating recogniser slips."""

from __future__ import annotations

import pytest

from console.profiles import EMERGENCY_SENTINEL, load_profile
from console.providers.base import ChatMessage
from console.providers.scripted import ScriptedResponder, capture_number, word_matches


def caller(*turns: str) -> list[ChatMessage]:
    """A conversation in which the caller said `turns` in order (agent lines in between)."""
    messages = [ChatMessage("system", "You are a receptionist.")]
    for turn in turns:
        messages += [ChatMessage("user", turn), ChatMessage("assistant", "Okay.")]
    return messages[:-1]


async def answer(profile: str, *turns: str) -> str:
    tokens = [
        token async for token in ScriptedResponder(load_profile(profile)).reply(caller(*turns))
    ]
    return "".join(tokens)


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("I'd like to book an appointment", "happy to book"),
        ("I want to bok an apointment please", "happy to book"),  # recogniser slips
        ("Can I get a cleaning next week?", "happy to book"),
        ("What are your opening hours?", "Monday to Friday"),
        ("when are you open on saturday", "Monday to Friday"),
        ("I need to cancel my appointment", "cancel that"),
        ("I need to cancle my appointment", "cancel that"),
        ("Can I reschedule to another day?", "new time"),
        ("Could I move my appointment", "new time"),
    ],
)
async def test_scheduling_caller_intents_get_their_scripted_answer(said: str, expected: str):
    assert expected in await answer("scheduling", said)


async def test_the_reply_streams_word_by_word_and_joins_back_to_the_sentence():
    responder = ScriptedResponder(load_profile("scheduling"))
    tokens = [token async for token in responder.reply(caller("what are your hours"))]
    assert len(tokens) > 5
    assert tokens[0] == "We're" and all(token.startswith(" ") for token in tokens[1:])
    assert "".join(tokens) == responder.respond(caller("what are your hours"))


async def test_without_a_name_the_booking_reply_asks_for_one():
    reply = await answer("scheduling", "book an appointment")
    assert reply == "I'd be happy to book that. May I have your name, please?"


async def test_a_name_said_earlier_is_used_in_a_later_reply():
    reply = await answer("scheduling", "Hi, my name is jane doe.", "I'd like to book a cleaning")
    assert reply.startswith("I'd be happy to book that, Jane Doe.")
    assert "phone number" in reply  # the next missing slot


async def test_the_name_stops_at_the_next_ordinary_word():
    reply = await answer("scheduling", "my name is Omar and I want to come in")
    assert reply.startswith("Thanks, Omar.")


async def test_a_spoken_phone_number_is_read_back_as_digits():
    reply = await answer("scheduling", "my name is Li", "it's five five five oh one two three")
    assert reply == "Got it, 5550123. What day and time would suit you?"


async def test_a_written_number_is_read_back_too():
    assert "555 0123" in await answer("scheduling", "my number is 555-0123")


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("march third nineteen eighty", "March 3 19 80"),
        ("March 3rd, 1980", "March 3 1980"),
        ("twenty one twelve", "21 12"),
        ("the one on friday", None),  # one lone digit is not worth reading back
        ("may I book", None),
    ],
)
def test_numbers_are_captured_from_digits_and_spoken_words(said: str, number: str | None):
    assert capture_number(said) == number


async def test_medical_intake_collects_name_then_date_of_birth_then_hands_to_a_nurse():
    assert "date of birth" in await answer("medical_intake", "My name is Ann Lee")
    final = await answer("medical_intake", "My name is Ann Lee", "june fifth nineteen ninety")
    assert final.startswith("Thank you, I have June 5 19 90.") and "nurse will call" in final


@pytest.mark.parametrize(
    "said",
    [
        "I have really bad chest pain",
        "My dad is unconscious",
        "I cant breathe",
        "her face is drooping",
    ],
)
async def test_a_medical_emergency_is_answered_with_the_sentinel(said: str):
    reply = await answer("medical_intake", said)
    assert reply.startswith(EMERGENCY_SENTINEL)
    assert load_profile("medical_intake").match_agent_trigger(reply) == EMERGENCY_SENTINEL


async def test_an_emergency_wins_over_every_other_intent():
    reply = await answer("medical_intake", "I want an appointment, I have a fever and chest pain")
    assert reply.startswith(EMERGENCY_SENTINEL)


async def test_an_ordinary_symptom_is_noted_not_escalated():
    reply = await answer("medical_intake", "I've had a sore throat and a fever for two days")
    assert EMERGENCY_SENTINEL not in reply and "noted that for the nurse" in reply


async def test_tech_support_escalates_a_hacked_account_with_a_trigger_phrase():
    reply = await answer("tech_support", "I think my account got hacked")
    assert load_profile("tech_support").match_agent_trigger(reply) is not None


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("my internet is down again", "lights on your router"),
        ("I need a password reset", "reset your password"),
        ("there's a weird charge on my bill", "help with billing"),
    ],
)
async def test_tech_support_routes_outages_passwords_and_billing(said: str, expected: str):
    assert expected in await answer("tech_support", said)


@pytest.mark.parametrize("profile", ["scheduling", "medical_intake", "tech_support"])
async def test_goodbye_gets_the_profiles_farewell(profile: str):
    assert (await answer(profile, "okay that's all, bye")).endswith("Goodbye.")


@pytest.mark.parametrize("said", ["purple monkey dishwasher", "", "look at my house"])
async def test_anything_unrecognised_gets_the_fallback(said: str):
    assert await answer("scheduling", said) == "Sorry, could you say that again?"


async def test_only_the_last_caller_turn_picks_the_answer():
    reply = await answer("scheduling", "I want to book an appointment", "what are your hours")
    assert "Monday to Friday" in reply and "book" not in reply


async def test_the_responder_keeps_no_state_between_calls():
    responder = ScriptedResponder(load_profile("scheduling"))
    first = responder.respond(caller("my name is Ada", "book please"))
    responder.respond(caller("my name is Bob", "book please"))
    assert responder.respond(caller("my name is Ada", "book please")) == first
    assert "Ada" in first and responder.tier == "scripted"


@pytest.mark.parametrize(
    ("word", "keyword", "matches"),
    [
        ("bok", "book", True),
        ("booking", "book", True),
        ("cancelled", "cancel", True),
        ("apointments", "appointment", True),
        ("look", "book", False),
        ("cook", "book", False),
        ("house", "hours", False),
        ("by", "bye", False),
    ],
)
def test_fuzzy_keywords_forgive_slips_but_not_other_words(word: str, keyword: str, matches: bool):
    assert word_matches(word, keyword) is matches
