"""Profiles in a running console: every one checked at start-up, an invalid edit reported and
the last good version used, instead of every call on it ending in silence."""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path

import pytest

from console import events as ev
from console import locations
from console.profiles import InvalidProfiles, ProfileBook, ProfileError, report_stale

GOOD = """
system_prompt = "You answer the phone."
greeting = "Hello, how can I help?"
[transfer_targets]
default = "+14155550100"
"""
BAD_GREETING = GOOD.replace('"Hello, how can I help?"', "42")


@pytest.fixture
def editable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(locations, "profiles_dir", lambda: tmp_path)
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def started(folder: Path) -> ProfileBook:
    write(folder, "desk", GOOD)
    book = ProfileBook()
    book.check_all()
    return book


def test_a_greeting_of_42_is_refused_at_start_up_naming_file_field_and_problem(editable):
    path = write(editable, "desk", BAD_GREETING)
    with pytest.raises(InvalidProfiles) as refused:
        ProfileBook().check_all()
    assert f"{path}: greeting: must be a string, not int" in str(refused.value)


def test_start_up_names_every_invalid_profile_not_only_the_first(editable):
    write(editable, "desk", BAD_GREETING)
    write(editable, "late", GOOD.replace("default =", "desk ="))
    with pytest.raises(InvalidProfiles) as refused:
        ProfileBook().check_all()
    assert sorted(e.path.stem for e in refused.value.errors) == ["desk", "late"]


def test_a_profile_the_settings_name_but_nobody_wrote_is_refused_at_start_up(editable):
    with pytest.raises(InvalidProfiles, match="nightline.toml: name: not found"):
        ProfileBook().check_all(required=["nightline"])


def test_an_invalid_edit_keeps_the_last_good_version_and_says_why(editable, caplog):
    book = started(editable)
    path = write(editable, "desk", BAD_GREETING)
    with caplog.at_level(logging.WARNING, logger="console.profiles"):
        profile, stale = book.get("desk")
    assert profile.greeting == "Hello, how can I help?"
    assert stale is not None and stale.new and stale.error.field == "greeting"
    assert f"{path}: greeting: must be a string, not int" in caplog.text


def test_the_same_invalid_edit_is_reported_once_and_a_new_one_again(editable):
    book = started(editable)
    write(editable, "desk", BAD_GREETING)
    assert [book.get("desk")[1].new for _ in range(3)] == [True, False, False]
    write(editable, "desk", GOOD.replace("+14155550100", "555-0100"))
    profile, stale = book.get("desk")
    assert stale.new and stale.error.field == "transfer_targets.default"


def test_a_fixed_file_is_used_at_once_and_a_later_bad_edit_is_reported_afresh(editable):
    book = started(editable)
    write(editable, "desk", BAD_GREETING)
    book.get("desk")
    write(editable, "desk", GOOD.replace("Hello,", "Howdy,"))
    profile, stale = book.get("desk")
    assert stale is None and profile.greeting == "Howdy, how can I help?"
    write(editable, "desk", BAD_GREETING)
    profile, stale = book.get("desk")
    assert profile.greeting == "Howdy, how can I help?" and stale.new


def test_a_profile_that_was_never_good_still_fails_its_call(editable):
    book = started(editable)
    write(editable, "fresh", BAD_GREETING)  # added after start-up, already broken
    with pytest.raises(ProfileError, match="greeting"):
        book.get("fresh")


def test_each_call_on_a_stale_profile_records_it_and_the_operator_is_alerted_once(editable):
    book = started(editable)
    write(editable, "desk", BAD_GREETING)
    published: list[tuple[type, dict]] = []
    for _ in range(2):
        report_stale(lambda kind, **fields: published.append((kind, fields)), book.get("desk")[1])
    kinds = [kind for kind, _ in published]
    assert kinds == [ev.ProfileRejected, ev.AlertRaised, ev.ProfileRejected]
    alert = published[1][1]
    assert alert["level"] == "warning" and "greeting: must be a string" in alert["message"]


@pytest.mark.parametrize(("line", "says"), [
    ("name = 42", "name: must be a string, not int"),
    ('name = "other"', "name: a profile is named by its file (desk)"),
    ('voice = "asteria"', "voice: 'asteria' is not a Deepgram Aura voice"),
    ("local_voice = 3", "local_voice: must be a string, not int"),
    ('agent_triggers = "EMERGENCY_DETECTED"', "agent_triggers: must be a list of strings"),
    ("idle_hangup_s = true", "idle_hangup_s: must be a number of seconds, not bool"),
])
def test_every_field_is_checked_for_its_type_and_shape(editable, line, says):
    write(editable, "desk", line + "\n" + GOOD)
    with pytest.raises(InvalidProfiles, match=re.escape(says)):
        ProfileBook().check_all()


def test_an_edit_of_the_same_length_is_used_by_the_next_call(editable):
    book = started(editable)
    assert book.get("desk")[0].greeting == "Hello, how can I help?"
    path = write(editable, "desk", GOOD.replace("Hello,", "Howdy,"))  # same size
    later = path.stat().st_mtime_ns + 1_000_000_000  # saved a second later, as an edit is
    os.utime(path, ns=(later, later))
    assert book.get("desk")[0].greeting == "Howdy, how can I help?"


def test_calls_on_an_unchanged_profile_do_not_parse_it_again(editable, monkeypatch):
    """Every call start reads its profile; parsing the TOML each time was ~5 ms of a busy
    worker's core per call."""
    book = started(editable)
    parsed: list[str] = []
    real_loads = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: parsed.append(text) or real_loads(text))
    first = book.get("desk")[0]
    assert [book.get("desk")[0] for _ in range(5)] == [first] * 5
    assert len(parsed) == 1
