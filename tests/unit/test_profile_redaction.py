"""A profile says what the call store never keeps; a typo there is refused, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import locations
from console.profiles import ProfileError, load_profile, load_profile_file

MINIMAL = """
system_prompt = "You answer the phone."
greeting = "Hello, how can I help?"
"""


@pytest.fixture
def editable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(locations, "profiles_dir", lambda: tmp_path)
    return tmp_path


def test_the_medical_profile_redacts_every_kind_by_default():
    medical = load_profile("medical_intake")
    assert set(medical.redact) == {"card", "ssn", "dob", "dtmf"}
    assert "on your keypad" in medical.sensitive_prompts


def test_a_profile_that_says_nothing_redacts_nothing(editable: Path):
    (editable / "plain.toml").write_text(MINIMAL, encoding="utf-8")
    assert load_profile("plain").redact == ()


def test_an_unknown_kind_is_refused_naming_the_entry(editable: Path):
    path = editable / "typo.toml"
    path.write_text('redact = ["card", "cvv"]\n' + MINIMAL, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"redact\[1\]: 'cvv' is not one of card, ssn"):
        load_profile_file(path)


def test_keypad_redaction_needs_the_prompts_that_ask_for_digits(editable: Path):
    path = editable / "keys.toml"
    path.write_text('redact = ["dtmf"]\n' + MINIMAL, encoding="utf-8")
    with pytest.raises(ProfileError, match="sensitive_prompts: 'dtmf' in redact needs"):
        load_profile_file(path)
