"""The redactor, as a table: what a recognizer writes, and what the call store keeps of it."""

from __future__ import annotations

import pytest

from console.redaction import DTMF_PAUSE_S, KINDS, KeypadGuard, luhn_ok, redact


def kept(said: str) -> tuple[str, str]:
    return (said, said)


STORED = [
    # cards: written, grouped, unbroken, spoken, Amex, Luhn-checked
    ("my card is 4111 1111 1111 1111 and I have chest pain",
     "my card is [card] and I have chest pain"),
    ("card number 4111-1111-1111-1111 exp 12/25", "card number [card] exp 12/25"),
    ("4111111111111111", "[card]"),
    ("it's four one one one one one one one one one one one one one one one", "it's [card]"),
    ("four one one one, one one one one, one one one one, one one one one.", "[card]."),
    ("five five double five four four four four three three three three one one one one",
     "[card]"),
    ("378282246310005 amex", "[card] amex"),
    kept("my order number is 1234 5678 9012 3456"),
    kept("4111 1111 1111 1112"),  # one digit misheard: fails Luhn, kept
    kept("ticket 1000000000000009"),  # passes Luhn, no card starts with 1
    # SSNs
    ("ssn 123-45-6789", "ssn [ssn]"),
    ("it's 123 45 6789", "it's [ssn]"),
    ("my social is one two three four five six seven eight nine", "my social is [ssn]"),
    kept("one two three four five six seven eight nine"),
    kept("000-12-3456"),  # the SSA never issues area 000
    kept("call me at 415 555 0100"),
    # dates of birth: near a cue, before or after it
    ("I was born on March 3rd, 1985 and live in Boston", "I was born on [dob] and live in Boston"),
    ("my date of birth is three fourteen eighty five", "my date of birth is [dob]"),
    ("DOB 03/14/1985.", "DOB [dob]."),
    ("March 3rd 1985 is my birthday", "[dob] is my birthday"),
    ("I was born in Boston in 1985", "I was born in Boston in [dob]"),
    kept("I'd like an appointment on March 3rd at 2 pm"),
    kept("I was born at 3"),
    kept("the third of March nineteen eighty five"),
    kept(""),
    kept("I have chest pain"),
]


@pytest.mark.parametrize(("said", "stored"), STORED)
def test_what_the_store_keeps_of_each_line(said, stored):
    assert redact(said, KINDS).text == stored


ANSWERS = [
    ("And what is your date of birth?", "the third of March nineteen eighty five", "the [dob]"),
    ("What is your social security number?", "sure, one two three four five six seven eight nine",
     "sure, [ssn]"),
    ("And what is your date of birth?", "I have two kids", "I have two kids"),
    ("How can I help?", "the third of March nineteen eighty five",
     "the third of March nineteen eighty five"),
]


@pytest.mark.parametrize(("asked", "answer", "stored"), ANSWERS)
def test_an_answer_to_a_question_that_asked_for_it_is_redacted_without_a_cue_of_its_own(
        asked, answer, stored):
    assert redact(answer, KINDS, prompt=asked).text == stored


def test_only_the_kinds_a_profile_turns_on_are_redacted():
    said = "card 4111 1111 1111 1111, ssn 123-45-6789, born 03/14/1985"
    assert redact(said, ["card"]).text == "card [card], ssn 123-45-6789, born 03/14/1985"
    assert redact(said, ["ssn", "dob"]).text == "card 4111 1111 1111 1111, ssn [ssn], born [dob]"
    assert redact(said, []).text == said


def test_what_was_found_names_its_place_in_the_original_text():
    said = "my card is 4111 1111 1111 1111 and I was born 03/14/1985"
    found = redact(said, KINDS).found
    assert [(f.kind, said[f.start:f.end]) for f in found] == [
        ("card", "4111 1111 1111 1111"), ("dob", "03/14/1985")]


@pytest.mark.parametrize(("digits", "ok"), [
    ("4111111111111111", True), ("79927398713", True),
    ("4111111111111112", False), ("1234567812345678", False)])
def test_luhn(digits, ok):
    assert luhn_ok(digits) is ok


def test_keypad_digits_after_a_sensitive_prompt_are_hidden_until_the_pound_key():
    guard = KeypadGuard(["enter your card number"])
    assert guard.pressed("1", at=0.0) is False  # no prompt yet: a menu choice
    guard.agent_said("Please enter your card number on the keypad, then press pound.", at=10.0)
    guard.agent_said("Take your time.", at=11.0)  # the next sentence keeps it open
    assert [guard.pressed(key, at=12.0 + i) for i, key in enumerate("4111#")] == [
        True, True, True, True, False]
    assert guard.pressed("2", at=17.0) is False  # after '#': an ordinary key again


def test_a_pause_on_the_keypad_ends_the_sensitive_entry():
    guard = KeypadGuard(["enter your PIN"])
    guard.agent_said("Please enter your PIN.", at=0.0)
    assert guard.pressed("1", at=2.0) is True
    assert guard.pressed("2", at=2.0 + DTMF_PAUSE_S + 0.1) is False


def test_keys_after_an_ordinary_line_are_kept():
    guard = KeypadGuard(["enter your card number"])
    guard.agent_said("Press 1 for appointments.", at=0.0)
    assert guard.pressed("1", at=1.0) is False
