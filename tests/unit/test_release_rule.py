"""The release rule's table: how long a caller must stay quiet before the agent answers them."""

from __future__ import annotations

import pytest

from console.calls.prosody import Ending
from console.calls.release import ReleaseRule, release_after, unfinished_sign

RULE = ReleaseRule(unfinished_hold_s=1.2, narrating_hold_s=0.8)

# (what the caller said so far, seconds of quiet before the answer, why)
TABLE = [
    # a finished statement or question is answered at once
    ("I'd like to book an appointment.", 0.0, "finished"),
    ("this is caller line number 3 about my booking", 0.0, "finished"),  # no punctuation
    ("Are you open on Sundays?", 0.0, "question"),
    ("Hi. Are you open on Sundays?", 0.0, "question"),
    ("Yes.", 0.0, "finished"),
    ("No.", 0.0, "finished"),
    ("Hold on.", 0.0, "finished"),
    ("I think so.", 0.0, "finished"),
    ("I'd like that.", 0.0, "finished"),
    ("When?", 0.0, "question"),
    # words that leave the sentence open wait for the bound
    ("I'd like to book a table for", 1.2, "unfinished: preposition 'for'"),
    ("I'd like to book a table for.", 1.2, "unfinished: preposition 'for'"),  # smart_format
    ("My daughter has a fever and", 1.2, "unfinished: conjunction 'and'"),
    ("I called yesterday, but", 1.2, "unfinished: conjunction 'but'"),
    ("When I called yesterday,", 1.2, "unfinished: comma"),
    ("Can you tell me, um", 1.2, "unfinished: filler 'um'"),
    ("I need to change the", 1.2, "unfinished: article 'the'"),
    ("So we have...", 1.2, "unfinished: trailing '...'"),
    ("I want to talk to", 1.2, "unfinished: preposition 'to'"),
    ("I'm looking for a dentist near", 1.2, "unfinished: preposition 'near'"),
    ("We moved to a new address last month so", 1.2, "unfinished: conjunction 'so'"),
    ("My date of birth is", 1.2, "unfinished: open clause 'birth is'"),
    ("The problem is.", 1.2, "unfinished: open clause 'problem is'"),  # smart_format
    ("Can you", 1.2, "unfinished: open question 'can you'"),
    ("I was wondering, could I", 1.2, "unfinished: open question 'could i'"),
    ("My wife and I", 1.2, "unfinished: subject 'I'"),
    ("Yesterday I’m", 1.2, "unfinished: contraction \"i'm\""),  # a typographic apostrophe
    ("So what happened is there's", 1.2, "unfinished: contraction \"there's\""),
    ("The pain is very", 1.2, "unfinished: intensifier 'very'"),
    ("I took the pills and then", 1.2, "unfinished: conjunction 'and then'"),
    ("Yes it is.", 0.0, "finished"),
    ("Yes, I am.", 0.0, "finished"),
    ("So do I.", 0.0, "finished"),
    ("I know where she was", 0.0, "finished"),
    ("Thank you.", 0.0, "finished"),
    ("Since then.", 0.0, "finished"),
    ("I don't think so.", 0.0, "finished"),
    ("I hope so", 0.0, "finished"),
    # a caller telling something at length gets time between sentences
    ("It was the age of wisdom. It was the age of foolishness.", 0.8, "narrating: 2 sentences"),
    ("Ever tried. Ever failed. No matter.", 0.8, "narrating: 3 sentences"),
]


@pytest.mark.parametrize(("text", "wait_s", "reason"), TABLE)
def test_the_release_rule_table(text: str, wait_s: float, reason: str) -> None:
    release = release_after(text, rule=RULE)
    assert (release.after_quiet_s, release.reason) == (wait_s, reason)


def test_a_caller_who_went_on_after_a_long_pause_is_given_that_long_and_more() -> None:
    release = release_after("It was the age of wisdom.", resumed_pauses=[0.3, 0.95], rule=RULE)
    assert release.after_quiet_s == pytest.approx(1.05)
    assert release.reason == "narrating: resumed after 0.95 s"


def test_a_caller_who_resumed_after_a_short_pause_waits_the_narrating_hold() -> None:
    release = release_after("Fine.", resumed_pauses=[0.2], rule=RULE)
    assert release.after_quiet_s == 0.8


def test_no_wait_is_longer_than_the_bound() -> None:
    release = release_after("Fine.", resumed_pauses=[3.0], rule=RULE)
    assert release.after_quiet_s == 1.2


def test_a_question_is_answered_at_once_even_from_a_caller_who_paused_before() -> None:
    assert release_after("Is it open?", resumed_pauses=[0.9], rule=RULE).after_quiet_s == 0.0


def test_the_bounds_are_settings() -> None:
    rule = ReleaseRule(unfinished_hold_s=2.0, narrating_hold_s=1.0)
    assert release_after("a table for", rule=rule).after_quiet_s == 2.0
    assert release_after("One. Two.", rule=rule).after_quiet_s == 1.0


def test_empty_text_is_not_unfinished() -> None:
    assert unfinished_sign("") is None
    assert unfinished_sign("   ") is None


# How the caller's voice ended only ever holds a finished statement; a question, words that
# sound unfinished and a caller narrating keep their own rules, and an unknown ending (or the cue
# turned off: no level hold) answers at once as before.
VOICED = ReleaseRule(unfinished_hold_s=1.2, narrating_hold_s=0.8, level_hold_s=0.7)
F, L, R, U = Ending.FALLING, Ending.LEVEL, Ending.RISING, Ending.UNKNOWN
ENDING_TABLE = [
    ("I'm calling about my prescription", L, VOICED, 0.7, "finished, voice level"),
    ("I'm calling about my prescription", F, VOICED, 0.0, "finished"),
    ("I'm calling about my prescription", R, VOICED, 0.0, "finished"),  # a high rise yields
    ("I'm calling about my prescription", U, VOICED, 0.0, "finished"),
    ("I'm calling about my prescription", L, RULE, 0.0, "finished"),  # the cue turned off
    ("Are you open on Sundays?", L, VOICED, 0.0, "question"),  # questions often rise
    ("I'd like to book a cleaning for", F, VOICED, 1.2, "unfinished: preposition 'for'"),
    ("Ever tried. Ever failed.", L, VOICED, 0.8, "narrating: 2 sentences"),
]


@pytest.mark.parametrize(("text", "ending", "rule", "wait_s", "reason"), ENDING_TABLE)
def test_a_level_voice_holds_only_a_finished_statement(
        text: str, ending: Ending, rule: ReleaseRule, wait_s: float, reason: str) -> None:
    release = release_after(text, rule=rule, ending=ending)
    assert (release.after_quiet_s, release.reason) == (wait_s, reason)
