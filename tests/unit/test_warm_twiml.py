"""The TwiML and brief of a warm transfer, as Twilio reads them (telephony/conference.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from types import SimpleNamespace

import pytest

from console.calls.conversation import Conversation
from console.commands.control import _body as control_body
from console.profiles import load_profile
from console.telephony.conference import (
    caller_hold_twiml,
    empty_twiml,
    hold_twiml,
    room,
    target_brief_twiml,
    warm_url,
)
from console.warm import compose_brief, spell_number

CALL = "CA" + "1" * 32
HOLD_URL = f"https://voice.example.test/warm/hold?call={CALL}"
EVENTS_URL = f"https://voice.example.test/warm/conference?call={CALL}"


def _verbs(twiml: str) -> list[ElementTree.Element]:
    return list(ElementTree.fromstring(twiml))


def test_the_caller_waits_in_the_room_hearing_our_hold_line_until_the_target_joins():
    [dial] = _verbs(caller_hold_twiml(CALL, HOLD_URL, EVENTS_URL))
    conference = dial.find("Conference")
    assert dial.tag == "Dial" and conference is not None
    assert conference.text == room(CALL) == f"warm-{CALL}"
    assert conference.get("startConferenceOnEnter") == "false"  # waits, hearing waitUrl
    assert conference.get("waitUrl") == HOLD_URL and conference.get("waitMethod") == "POST"
    assert conference.get("endConferenceOnExit") == "true"  # a caller who hangs up ends it
    assert conference.get("beep") == "false"
    # ... and its leaving is reported, so a target still ringing can be called off.
    assert conference.get("statusCallback") == EVENTS_URL
    assert conference.get("statusCallbackEvent") == "leave"


def test_the_target_hears_the_brief_before_joining_and_their_joining_starts_the_call():
    say, dial = _verbs(target_brief_twiml(CALL, "Caller wants a refund."))
    assert (say.tag, say.text) == ("Say", "Caller wants a refund.")
    conference = dial.find("Conference")
    assert conference is not None and conference.text == room(CALL)
    assert conference.get("startConferenceOnEnter") == "true"
    assert conference.get("endConferenceOnExit") == "true"


@pytest.mark.parametrize(("music", "verbs"), [
    ("", ["Say", "Pause"]),
    ("https://example.test/hold.mp3", ["Say", "Play", "Pause"]),
])
def test_the_hold_line_is_said_then_the_music_if_any(music: str, verbs: list[str]):
    twiml = hold_twiml("Please hold.", music)
    assert [verb.tag for verb in _verbs(twiml)] == verbs
    assert _verbs(twiml)[0].text == "Please hold."


def test_a_target_answering_too_late_is_hung_up_on():
    assert [verb.tag for verb in _verbs(empty_twiml())] == ["Hangup"]


def test_each_webhook_url_names_the_callers_call_in_its_signed_query():
    assert warm_url("https://voice.example.test/", "/warm/answer", CALL) == (
        f"https://voice.example.test/warm/answer?call={CALL}")


@pytest.mark.parametrize(("number", "spoken"), [
    ("+15550001111", "1 5 5 5 0 0 0 1 1 1 1"),
    ("(555) 010-2", "5 5 5 0 1 0 2"),
    ("anonymous", "anonymous"),
])
def test_the_callers_number_is_spelled_digit_by_digit(number: str, spoken: str):
    assert spell_number(number) == spoken


def test_the_brief_gives_the_reason_the_callers_number_and_what_they_said():
    conversation = Conversation("system")
    conversation.caller_said("I was charged twice for my appointment")
    conversation.agent_said("I am sorry to hear that.")
    call = SimpleNamespace(sid=CALL, profile=load_profile("scheduling"), conversation=conversation,
                           start_info=SimpleNamespace(custom_parameters={"caller": "+15550001111"}))

    brief = compose_brief(call, "billing dispute.")

    assert brief.startswith("Transfer from the voice agent. Reason: billing dispute. ")
    assert "The caller's number is 1 5 5 5 0 0 0 1 1 1 1." in brief
    assert "I was charged twice for my appointment" in brief
    assert brief.endswith("Connecting you now.")


@pytest.mark.parametrize(("words", "body"), [
    (["billing"], {"number": "billing"}),
    (["+15551234567", "wants", "a", "refund"],
     {"number": "+15551234567", "reason": "wants a refund"}),
])
def test_the_cli_sends_the_number_then_the_reason_the_target_is_told(words, body):
    assert control_body("warm-transfer", words) == body
