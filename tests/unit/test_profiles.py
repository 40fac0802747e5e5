"""Agent profiles: the shipped TOML files load and validate; errors name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import locations
from console.profiles import (
    EMERGENCY_SENTINEL,
    ProfileError,
    list_profiles,
    load_profile,
    load_profile_file,
    match_phrases,
)

SHIPPED = ["medical_intake", "scheduling", "tech_support"]

MINIMAL = """
system_prompt = "You answer the phone."
greeting = "Hello, how can I help?"
[transfer_targets]
default = "+14155550100"
"""


@pytest.fixture
def editable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder of the operator's own profiles; the packaged ones stay where they are."""
    monkeypatch.setattr(locations, "profiles_dir", lambda: tmp_path)
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_with_a_greeting_prompt_and_default_transfer(name: str):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.greeting and profile.system_prompt and profile.goodbye and profile.apology
    assert profile.default_transfer_number.startswith("+")
    assert profile.voice.startswith("aura-")
    assert profile.idle_reprompt_s > 0 and profile.idle_hangup_s > 0
    assert EMERGENCY_SENTINEL in profile.agent_triggers
    assert profile.responder.intents


@pytest.mark.parametrize("name", SHIPPED)
def test_system_prompts_are_written_for_speech_without_markdown_or_lists(name: str):
    prompt = load_profile(name).system_prompt
    for line in prompt.splitlines():
        assert not line.lstrip().startswith(("-", "*", "#", "1.")), line
    assert "**" not in prompt and "one question at a time" in prompt.lower()


def test_list_profiles_names_the_three_shipped_profiles():
    assert set(SHIPPED) <= set(list_profiles())


def test_a_missing_editable_profile_falls_back_to_the_packaged_copy(editable: Path):
    profile = load_profile("scheduling")
    assert profile.source == locations.bundled_profiles_dir() / "scheduling.toml"


def test_an_edited_profile_in_data_overrides_the_packaged_copy(editable: Path):
    write(editable, "scheduling", MINIMAL.replace("Hello,", "Howdy,"))
    profile = load_profile("scheduling")
    assert profile.greeting == "Howdy, how can I help?"
    assert profile.reprompt == "Are you still there?"  # defaults fill what the file leaves out


def test_an_override_replaces_the_packaged_profile_whole_not_field_by_field(editable: Path):
    assert load_profile("scheduling").responder.intents  # the packaged one has a script
    write(editable, "scheduling", MINIMAL)
    assert load_profile("scheduling").responder.intents == ()  # nothing merged in from it


def test_a_broken_override_is_an_error_naming_its_file_never_the_packaged_copy(editable: Path):
    path = write(editable, "scheduling", MINIMAL.replace('"Hello, how can I help?"', "42"))
    with pytest.raises(ProfileError, match="greeting: must be a string, not int") as caught:
        load_profile("scheduling")
    assert caught.value.path == path and caught.value.field == "greeting"


def test_a_folder_where_an_override_should_be_is_an_error_not_a_silent_fall_back(editable):
    (editable / "scheduling.toml").mkdir()
    with pytest.raises(ProfileError) as caught:
        load_profile("scheduling")
    assert caught.value.path == editable / "scheduling.toml" and caught.value.field == "file"


def test_broken_toml_gives_a_profile_error_naming_the_file(editable: Path):
    path = write(editable, "broken", 'greeting = "unterminated\n')
    with pytest.raises(ProfileError) as caught:
        load_profile("broken")
    assert str(path) in str(caught.value)
    assert caught.value.path == path


def test_an_empty_greeting_is_rejected_naming_the_field(editable: Path):
    write(editable, "quiet", MINIMAL.replace("Hello, how can I help?", "  "))
    with pytest.raises(ProfileError, match=r"quiet\.toml: greeting: must not be empty"):
        load_profile("quiet")


def test_a_missing_system_prompt_is_rejected_naming_the_field(editable: Path):
    write(editable, "mute", MINIMAL.replace('system_prompt = "You answer the phone."', ""))
    with pytest.raises(ProfileError, match="system_prompt: is required"):
        load_profile("mute")


def test_a_transfer_number_that_is_not_e164_is_rejected_naming_the_field(editable: Path):
    write(editable, "local", MINIMAL.replace("+14155550100", "555-0100"))
    with pytest.raises(ProfileError) as caught:
        load_profile("local")
    assert caught.value.field == "transfer_targets.default"
    assert "E.164" in str(caught.value)


def test_transfer_targets_need_a_default_entry(editable: Path):
    write(editable, "nodefault", MINIMAL.replace("default =", "desk ="))
    with pytest.raises(ProfileError, match="transfer_targets: needs a 'default' entry"):
        load_profile("nodefault")


def test_a_misspelt_field_is_rejected_instead_of_silently_ignored(editable: Path):
    write(editable, "typo", 'greting = "Hi"\n' + MINIMAL)
    with pytest.raises(ProfileError, match="greting: unknown field"):
        load_profile("typo")


def test_a_wrongly_typed_number_is_rejected_naming_the_field(editable: Path):
    write(editable, "slow", 'idle_reprompt_s = "eight"\n' + MINIMAL)
    with pytest.raises(ProfileError, match="idle_reprompt_s: must be a number of seconds"):
        load_profile("slow")


def test_a_bad_regular_expression_is_rejected_naming_the_list_entry(editable: Path):
    write(editable, "regex", 'caller_emergency_phrases = ["ok", "re:(unclosed"]\n' + MINIMAL)
    with pytest.raises(ProfileError, match=r"caller_emergency_phrases\[1\]: bad regular"):
        load_profile("regex")


def test_a_responder_intent_without_keywords_is_rejected_naming_it(editable: Path):
    text = MINIMAL + '[[responder.intents]]\nname = "x"\nreply = "y"\n'
    write(editable, "script", text)
    with pytest.raises(ProfileError, match=r"responder\.intents\[0\]\.keywords"):
        load_profile("script")


def test_an_unknown_profile_is_an_error_listing_the_known_ones(editable: Path):
    with pytest.raises(ProfileError, match="not found.*scheduling"):
        load_profile("nope")


def test_a_profile_name_cannot_reach_outside_the_profile_folders():
    with pytest.raises(ProfileError, match="name"):
        load_profile("../secrets")


def test_a_file_can_be_loaded_directly_and_is_named_after_it(tmp_path: Path):
    profile = load_profile_file(write(tmp_path, "front_desk", MINIMAL))
    assert profile.name == "front_desk" and profile.title == "Front Desk"
    assert profile.agent_triggers == (EMERGENCY_SENTINEL,)


@pytest.mark.parametrize(
    "said",
    [
        "I've got chest pain and my left arm hurts",
        "my husband is UNCONSCIOUS",
        "I can't breathe properly",
        "her face is drooping on one side",
        "he has slurred speech",
    ],
)
def test_medical_profile_spots_a_caller_emergency_by_phrase_or_pattern(said: str):
    assert load_profile("medical_intake").match_caller_emergency(said) is not None


@pytest.mark.parametrize("said", ["I have a chest cold", "my pain is mild", "I'm breathing fine"])
def test_medical_profile_does_not_cry_wolf_on_ordinary_complaints(said: str):
    assert load_profile("medical_intake").match_caller_emergency(said) is None


def test_tech_support_escalates_on_data_loss_and_security_breach():
    profile = load_profile("tech_support")
    assert profile.match_caller_emergency("I think there was a security breach") is not None
    assert profile.match_caller_emergency("we had data loss on the server") is not None


def test_the_agent_sentinel_is_found_inside_a_sentence():
    profile = load_profile("medical_intake")
    said = "EMERGENCY_DETECTED. I'm connecting you now."
    assert profile.match_agent_trigger(said) == EMERGENCY_SENTINEL


def test_phrases_match_whole_words_only():
    assert match_phrases("a strokes game", ["stroke"]) is None
    assert match_phrases("I think it's a stroke.", ["stroke"]) == "stroke"


def test_the_medical_prompt_tells_the_model_to_say_the_sentinel():
    assert EMERGENCY_SENTINEL in load_profile("medical_intake").system_prompt


# --- approve-before-speak (issue 15): gate_topics -----------------------------------------------


@pytest.mark.parametrize(
    ("said", "topic"),
    [
        ("what dose of paracetamol can I give my son", "dose"),
        ("How much should I take?", "how much should I take"),
        ("can I take my MEDICATION with food", "medication"),
        ("I have a cough and a sore throat", None),
    ],
)
def test_medical_profile_gates_replies_about_doses_and_medication(said: str, topic: str | None):
    assert load_profile("medical_intake").match_gate_topic(said) == topic


def test_a_bad_gate_topic_pattern_is_rejected_naming_the_list_entry(editable: Path):
    write(editable, "gated", 'gate_topics = ["refund", "re:(unclosed"]\n' + MINIMAL)
    with pytest.raises(ProfileError, match=r"gate_topics\[1\]: bad regular"):
        load_profile("gated")


def test_a_profile_without_gate_topics_gates_nothing():
    assert load_profile("scheduling").match_gate_topic("what dosage do I need") is None
