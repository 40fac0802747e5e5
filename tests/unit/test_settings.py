"""Settings: one prefix, groups, the vendors' names, old names reported, frozen, and the
.env.example written from the model."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from console.config import Settings, load_settings
from console.config.env_example import env_example
from console.config.names import VENDOR_NAMES

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
REGENERATE = "python -m console.config --env-example > .env.example"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    """No stray .env, no settings of the shell running the tests."""
    monkeypatch.chdir(tmp_path)
    for name in ("PORT", "HOST", "PROFILE", "STT_ENGINE", *VENDOR_NAMES):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("VOICECONSOLE_")]:
        monkeypatch.delenv(name)


def test_a_port_host_or_profile_set_by_the_host_is_not_read_nor_reported(monkeypatch, caplog):
    for name, value in (("PORT", "3000"), ("HOST", "0.0.0.0"), ("PROFILE", "tech_support")):
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING):
        settings = load_settings()
    assert (settings.server.port, settings.server.host) == (8765, "127.0.0.1")
    assert settings.profile.default == "scheduling"
    assert caplog.records == []  # a container's PORT is its own business


def test_each_group_reads_its_prefixed_names(monkeypatch):
    monkeypatch.setenv("VOICECONSOLE_SERVER_PORT", "9100")
    monkeypatch.setenv("VOICECONSOLE_WEBHOOK_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("VOICECONSOLE_STT_FLUX_EOT_TIMEOUT_MS", "900")
    monkeypatch.setenv("VOICECONSOLE_PROFILE_NUMBERS", '{"+15550001111": "medical_intake"}')
    monkeypatch.setenv("VOICECONSOLE_RISK_NEGATIVE_WORDS", '["useless"]')
    settings = load_settings()
    assert settings.server.port == 9100 and settings.webhook.max_attempts == 7
    assert settings.stt.flux_eot_timeout_ms == 900
    assert settings.profile.numbers == {"+15550001111": "medical_intake"}
    assert settings.risk.negative_words == ("useless",)


def test_the_vendors_own_names_still_work_and_the_prefixed_name_wins(monkeypatch):
    for name in VENDOR_NAMES:
        monkeypatch.setenv(name, "https://from.vendor.name" if name == "PUBLIC_URL" else name)
    settings = load_settings()
    assert settings.groq.api_key and settings.groq.api_key.get_secret_value() == "GROQ_API_KEY"
    assert settings.deepgram.api_key is not None and settings.twilio.auth_token is not None
    assert settings.twilio.account_sid == "TWILIO_ACCOUNT_SID"
    assert settings.twilio.phone_number == "TWILIO_PHONE_NUMBER"
    assert settings.emergency.fallback_number == "EMERGENCY_FALLBACK_NUMBER"
    assert settings.public.url == "https://from.vendor.name"
    assert settings.public.ngrok_authtoken is not None
    monkeypatch.setenv("VOICECONSOLE_TWILIO_ACCOUNT_SID", "ACprefixed")
    assert load_settings().twilio.account_sid == "ACprefixed"


def test_a_vendor_name_in_dotenv_works_and_the_environment_still_wins(monkeypatch):
    Path(".env").write_text("TWILIO_ACCOUNT_SID=ACdotenv\nGROQ_API_KEY=gsk_dotenv\n")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "ACenv")
    settings = load_settings()
    assert settings.twilio.account_sid == "ACenv"
    assert settings.groq.api_key and settings.groq.api_key.get_secret_value() == "gsk_dotenv"


def test_an_old_name_still_set_is_reported_with_the_name_that_replaced_it(monkeypatch, caplog):
    """An operator's existing .env does not silently lose its meaning."""
    Path(".env").write_text("STT_ENGINE=flux\nPORT=9000\nVOICECONSOLE_DB=/tmp/x.db\n")
    monkeypatch.setenv("CALL_WEBHOOK_URL", "https://crm.example/hook")
    with caplog.at_level(logging.WARNING, logger="console.config"):
        settings = load_settings()
    said = "\n".join(record.getMessage() for record in caplog.records)
    assert "STT_ENGINE (in .env) is no longer read" in said
    assert "rename it VOICECONSOLE_STT_ENGINE" in said
    assert "PORT (in .env)" in said and "VOICECONSOLE_SERVER_PORT" in said
    assert "VOICECONSOLE_DATA_DB" in said
    assert "CALL_WEBHOOK_URL (in the environment)" in said and "VOICECONSOLE_WEBHOOK_URL" in said
    assert settings.stt.engine == "nova" and settings.webhook.url is None  # reported, not read


def test_a_misspelt_prefixed_name_is_refused_not_ignored(monkeypatch):
    monkeypatch.setenv("VOICECONSOLE_SERVER_PROT", "9000")
    with pytest.raises(ValidationError, match="prot"):
        load_settings()


def test_settings_cannot_be_changed_once_read():
    settings = load_settings(_env_file=None)
    with pytest.raises(ValidationError):
        settings.server.port = 1  # type: ignore[misc]  # the point: frozen
    with pytest.raises(ValidationError):
        settings.public = settings.public  # type: ignore[misc]


def test_replace_makes_a_validated_copy_and_leaves_the_original():
    settings = load_settings(_env_file=None, public_url="https://x.example")
    copy = settings.replace(public_url=None, data_db=Path("/tmp/demo.db"))
    assert copy.public.url is None and copy.data.db == Path("/tmp/demo.db")
    assert settings.public.url == "https://x.example"
    with pytest.raises(ValidationError):
        settings.replace(server_port="not a port")


def test_an_unknown_override_name_says_how_names_are_made():
    with pytest.raises(TypeError, match="group_field"):
        load_settings(_env_file=None, port=0)


def test_env_example_matches_the_settings_model():
    assert EXAMPLE.read_text(encoding="utf-8") == env_example(Settings), (
        f".env.example differs from the settings model: regenerate it with `{REGENERATE}`")


def test_env_example_copied_as_it_is_or_uncommented_gives_the_defaults(tmp_path):
    """Copying .env.example to .env changes nothing: its empty keys mean unset (an empty signing
    key would let anyone sign), and the defaults it shows, commented out, are the real ones."""
    defaults = load_settings(_env_file=None)
    copied = load_settings(_env_file=EXAMPLE)
    assert copied == defaults
    assert copied.twilio.auth_token is None and copied.webhook.secret is None
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in ("VOICECONSOLE_TWILIO_AUTH_TOKEN", "VOICECONSOLE_GROQ_API_KEY"):
        assert f"\n{key}=\n" in text  # left empty, ready to fill
    uncommented = tmp_path / "uncommented.env"
    uncommented.write_text(text.replace("\n# VOICECONSOLE_", "\nVOICECONSOLE_"), encoding="utf-8")
    assert "VOICECONSOLE_SERVER_PORT=8765" in uncommented.read_text(encoding="utf-8")
    assert load_settings(_env_file=uncommented) == defaults


def test_a_data_folder_named_only_in_dotenv_says_where_profiles_are_still_read(tmp_path, caplog):
    Path(".env").write_text(f"VOICECONSOLE_DATA_DIR={tmp_path / 'state'}\n")
    with caplog.at_level(logging.WARNING, logger="console.config"):
        settings = load_settings()
    assert settings.data.db == tmp_path / "state" / "voiceconsole.db"
    assert "export VOICECONSOLE_DATA_DIR to move them too" in caplog.text
