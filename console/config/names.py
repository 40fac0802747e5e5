"""Names from outside the `VOICECONSOLE_` scheme: the vendors' own variable names, still read,
and the names voiceconsole read before it had a prefix, no longer read but reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

PREFIX = "VOICECONSOLE_"

# The names the vendors' own docs and tools use (and the seed read): an operator who already
# exports GROQ_API_KEY keeps it working. The prefixed name wins when both are set.
VENDOR_NAMES: dict[str, str] = {
    "GROQ_API_KEY": "groq_api_key",
    "DEEPGRAM_API_KEY": "deepgram_api_key",
    "TWILIO_ACCOUNT_SID": "twilio_account_sid",
    "TWILIO_AUTH_TOKEN": "twilio_auth_token",
    "TWILIO_PHONE_NUMBER": "twilio_phone_number",
    "EMERGENCY_FALLBACK_NUMBER": "emergency_fallback_number",
    "PUBLIC_URL": "public_url",
    "NGROK_AUTHTOKEN": "public_ngrok_authtoken",
}

# Our names before the prefix, and the setting each became (its name without the prefix,
# lower-case; the env name is PREFIX + upper-case). Vendor names above are not here: they work.
RENAMED: dict[str, str] = {
    "HOST": "server_host", "PORT": "server_port", "ADMIN_TOKEN": "server_admin_token",
    "VOICECONSOLE_DB": "data_db",
    "START_DEADLINE_S": "limits_start_deadline_s", "MAX_SOCKETS": "limits_max_sockets",
    "MAX_PENDING_SOCKETS": "limits_max_pending_sockets", "MAX_CALLS": "limits_max_calls",
    "MEDIA_RATE_LIMIT": "limits_media_rate", "MEDIA_BURST_S": "limits_media_burst_s",
    "LOG_MAX_BYTES": "log_max_bytes", "LOG_BACKUP_COUNT": "log_backup_count",
    "ALLOW_UNSIGNED_PUBLIC": "public_allow_unsigned",
    "GROQ_BASE_URL": "groq_base_url", "DEEPGRAM_BASE_URL": "deepgram_base_url",
    "LLM_MODEL": "llm_model", "LLM_FALLBACK_MODEL": "llm_fallback_model",
    "STT_ENGINE": "stt_engine", "FLUX_EOT_THRESHOLD": "stt_flux_eot_threshold",
    "FLUX_EAGER_EOT_THRESHOLD": "stt_flux_eager_eot_threshold",
    "FLUX_EOT_TIMEOUT_MS": "stt_flux_eot_timeout_ms",
    "TWILIO_API_BASE_URL": "twilio_api_base_url",
    "TWILIO_SIGNATURE_VALIDATION": "twilio_signature_validation",
    "EMERGENCY_SECOND_NUMBER": "emergency_second_number",
    "PROFILE": "profile_default", "PROFILE_NUMBERS": "profile_numbers",
    "BARGE_IN_WINDOW_S": "turns_barge_in_window_s", "UNFINISHED_HOLD_S": "turns_unfinished_hold_s",
    "NARRATING_HOLD_S": "turns_narrating_hold_s", "BACKCHANNELS": "turns_backchannels",
    "SUMMARY_MODEL": "summary_model", "SUMMARY_STRICT": "summary_strict",
    "SUMMARY_TIMEOUT_S": "summary_timeout_s", "BRIEF_TIMEOUT_S": "summary_brief_timeout_s",
    "WARM_RING_TIMEOUT_S": "warm_ring_timeout_s", "WARM_HOLD_LINE": "warm_hold_line",
    "WARM_HOLD_MUSIC_URL": "warm_hold_music_url",
    "CALL_WEBHOOK_URL": "webhook_url", "CALL_WEBHOOK_SECRET": "webhook_secret",
    "CALL_WEBHOOK_MAX_ATTEMPTS": "webhook_max_attempts",
    "CALL_WEBHOOK_BACKOFF_BASE_S": "webhook_backoff_base_s",
    "CALL_WEBHOOK_BACKOFF_CAP_S": "webhook_backoff_cap_s",
    "CALL_WEBHOOK_TIMEOUT_S": "webhook_timeout_s",
    "GATE_TIMEOUT_S": "gate_timeout_s", "GATE_TIMEOUT_POLICY": "gate_timeout_policy",
    "GATE_HOLD_AFTER_S": "gate_hold_after_s", "GATE_HOLD_EVERY_S": "gate_hold_every_s",
    "RECORDING_ENABLED": "recording_enabled", "RECORDINGS_DIR": "recording_dir",
    "RECORDING_RETENTION_DAYS": "recording_retention_days",
    **{f"RISK_{name}": f"risk_{name.lower()}" for name in (
        "WEIGHT_EMERGENCY", "WEIGHT_ALERT", "WEIGHT_TRANSFER_FAILED", "WEIGHT_NEAR_MISS",
        "WEIGHT_REPEATED", "WEIGHT_NEGATIVE", "WEIGHT_SILENCE", "WEIGHT_APOLOGY",
        "WEIGHT_DEGRADED", "WEIGHT_SLOW", "V2V_BUDGET_MS", "NEGATIVE_WORDS", "RISING_S")},
}
# Names that hosts and containers set for their own purposes (PORT above all): in the
# environment they are someone else's, and only a .env file's are surely ours.
GENERIC = frozenset({"HOST", "PORT", "PROFILE"})


def env_name(key: str) -> str:
    """`server_port` -> `VOICECONSOLE_SERVER_PORT`."""
    return PREFIX + key.upper()


def nested(key: str, value: object, groups: Mapping[str, Any]) -> dict[str, dict[str, object]]:
    """`server_port`, 0 -> {"server": {"port": 0}}: a flat name split at its first `_`."""
    group, _, name = key.partition("_")
    if group not in groups or not name:
        raise TypeError(f"no setting {key!r} (names are group_field, e.g. server_port)")
    return {group: {name: value}}


class VendorNames(PydanticBaseSettingsSource):
    """The vendor names found in one source's variables (the environment's or the .env's)."""

    def __init__(self, settings_cls: type[BaseSettings], found: Mapping[str, str | None]) -> None:
        super().__init__(settings_cls)
        self._found = found

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the names directly

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, key in VENDOR_NAMES.items():
            if value := self._found.get(name.lower()):  # empty means unset
                group, _, field = key.partition("_")
                values.setdefault(group, {})[field] = value
        return values


def renamed_in(environment: Mapping[str, str | None],
               dotenv: Mapping[str, str | None]) -> list[str]:
    """One line per old name still set, naming the variable that replaced it."""
    found = [(name, "the environment") for name in RENAMED
             if name not in GENERIC and name.lower() in environment]
    found += [(name, ".env") for name in RENAMED if name.lower() in dotenv]
    return [f"{name} (in {where}) is no longer read: voiceconsole's settings now start with "
            f"{PREFIX}; rename it {env_name(RENAMED[name])}" for name, where in found]
