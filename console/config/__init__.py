"""One typed, frozen settings object, read from the environment and `.env`.

Names. A setting is read from `VOICECONSOLE_<GROUP>_<NAME>`: `settings.server.port` from
`VOICECONSOLE_SERVER_PORT`, `settings.webhook.max_attempts` from
`VOICECONSOLE_WEBHOOK_MAX_ATTEMPTS`. Group names are one word, so the first `_` after the prefix
ends the group and the rest is the field's own name, underscores and all (pydantic-settings'
nested models, `env_nested_delimiter="_"` with `env_nested_max_split=1`): the names stay as short
as the flat ones were, mostly the old name with the prefix in front (`VOICECONSOLE_STT_ENGINE`).
- With one prefix, a `PORT`, `HOST` or `PROFILE` that a container or host sets for its own
  purposes is never read as ours.
- The vendors' own names still work (`GROQ_API_KEY`, `TWILIO_AUTH_TOKEN`, `PUBLIC_URL`...:
  names.VENDOR_NAMES); the prefixed name wins when both are set.
- Our old unprefixed names (`STT_ENGINE`, `CALL_WEBHOOK_URL`...) are not read, and each one still
  set is reported at start-up with the name that replaced it (names.RENAMED), so an existing
  .env does not silently lose its meaning.
- `load_settings(server_port=0, data_db=path)` takes the same names, lower-case and unprefixed.

Frozen. Nothing changes a Settings once made. The public address, which a tunnel finds at run
time, lives in its own `PublicAddress`, held by the runtime.

`.env.example` is written from this model: `python -m console.config --env-example > .env.example`
(tests/unit/test_settings.py fails when they differ).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from console import locations
from console.config.groups import (
    DataSettings,
    DeepgramSettings,
    EmergencySettings,
    FleetSettings,
    GroqSettings,
    LimitsSettings,
    LlmSettings,
    LogSettings,
    ProfileSettings,
    PublicSettings,
    RecordingSettings,
    ReplyGateSettings,
    RiskSettings,
    ServerSettings,
    SttSettings,
    SummarySettings,
    TurnsSettings,
    TwilioSettings,
    WarmSettings,
    WebhookSettings,
)
from console.config.names import PREFIX, VendorNames, nested, renamed_in

log = logging.getLogger(__name__)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    """Everything voiceconsole reads from its environment, by group. Secrets are `SecretStr` so
    that they never print in logs, reprs or errors."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_nested_delimiter="_", env_nested_max_split=1, env_file=".env",
        env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore", frozen=True)

    server: ServerSettings = ServerSettings()
    public: PublicSettings = PublicSettings()
    limits: LimitsSettings = LimitsSettings()
    data: DataSettings = Field(default_factory=DataSettings)  # the folder: found when read
    log: LogSettings = LogSettings()
    groq: GroqSettings = GroqSettings()
    llm: LlmSettings = LlmSettings()
    deepgram: DeepgramSettings = DeepgramSettings()
    stt: SttSettings = SttSettings()
    twilio: TwilioSettings = TwilioSettings()
    emergency: EmergencySettings = EmergencySettings()
    profile: ProfileSettings = ProfileSettings()
    turns: TurnsSettings = TurnsSettings()
    summary: SummarySettings = SummarySettings()
    warm: WarmSettings = WarmSettings()
    webhook: WebhookSettings = WebhookSettings()
    gate: ReplyGateSettings = ReplyGateSettings()
    recording: RecordingSettings = RecordingSettings()
    risk: RiskSettings = RiskSettings()
    fleet: FleetSettings = FleetSettings()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Ours, then the vendors' names, from the environment before the .env file."""
        assert isinstance(env_settings, EnvSettingsSource)
        assert isinstance(dotenv_settings, DotEnvSettingsSource)
        for line in renamed_in(env_settings.env_vars, dotenv_settings.env_vars):
            log.warning("%s", line)
        return (init_settings, env_settings, VendorNames(settings_cls, env_settings.env_vars),
                dotenv_settings, VendorNames(settings_cls, dotenv_settings.env_vars),
                file_secret_settings)

    def replace(self, **changes: object) -> Settings:
        """A copy with `changes` (flat names: `data_db=path`), re-validated, the rest kept as it
        is (a default derived from a changed value, like `data.db` from `data.dir`, is not
        derived again)."""
        groups: dict[str, dict[str, object]] = {}
        for key, value in changes.items():
            for group, fields in nested(key, value, type(self).model_fields).items():
                groups.setdefault(group, {}).update(fields)
        update = {group: getattr(self, group).model_validate(
            {**getattr(self, group).model_dump(), **fields}) for group, fields in groups.items()}
        return self.model_copy(update=update)

    def recordings_folder(self) -> Path:
        return self.recording.dir or locations.recordings_dir(self.data.db)

    @property
    def validates_signatures(self) -> bool:
        return self.twilio.auth_token is not None and self.twilio.signature_validation

    def unsigned_reason(self) -> str | None:
        """Why Twilio's signatures are not enforced, or None when they are."""
        if self.twilio.auth_token is None:
            return "no TWILIO_AUTH_TOKEN"
        if not self.twilio.signature_validation:
            return "VOICECONSOLE_TWILIO_SIGNATURE_VALIDATION is off"
        return None

    def public_reason(self, want_tunnel: bool = False) -> str | None:
        """What makes this server reachable from beyond this machine, or None."""
        if want_tunnel or self.public.ngrok_authtoken is not None:
            return "an ngrok tunnel"
        if self.public.url:
            return f"PUBLIC_URL={self.public.url}"
        if self.server.host not in LOOPBACK_HOSTS:
            return f"VOICECONSOLE_SERVER_HOST={self.server.host} (beyond loopback)"
        return None

    def exposure_problem(self, want_tunnel: bool = False) -> str | None:
        """A public server that checks no signatures: anyone could call in and forge Twilio's
        callbacks. The message says what to do; None when the set-up is safe or allowed."""
        public, unsigned = self.public_reason(want_tunnel), self.unsigned_reason()
        if public is None or unsigned is None:
            return None
        return (f"the server would be public ({public}) without Twilio signatures ({unsigned}): "
                "set TWILIO_AUTH_TOKEN, or VOICECONSOLE_PUBLIC_ALLOW_UNSIGNED=true to run it "
                "anyway")

    def refusal_to_serve(self, want_tunnel: bool = False) -> str | None:
        """Why start-up must be refused (`exposure_problem`), unless
        VOICECONSOLE_PUBLIC_ALLOW_UNSIGNED says to run anyway."""
        return None if self.public.allow_unsigned else self.exposure_problem(want_tunnel)

    def warn_about_risky_choices(self) -> None:
        if self.twilio.auth_token is not None and not self.twilio.signature_validation:
            log.warning("Twilio signature validation is OFF although a token is set")


class PublicAddress:
    """The https base Twilio reaches right now: the configured PUBLIC_URL, replaced by a
    tunnel's address once one is open. The one mutable piece of configuration, so it lives here
    and not in the frozen Settings; the server and the routes read it per request."""

    def __init__(self, url: str | None, local_host: str) -> None:
        self.url = url.rstrip("/") if url else None
        self.local_host = local_host  # host:port, for a server no one outside reaches

    @classmethod
    def of(cls, settings: Settings) -> PublicAddress:
        return cls(settings.public.url, f"{settings.server.host}:{settings.server.port}")

    def host(self) -> str | None:
        return urlsplit(self.url).netloc if self.url else None

    def stream_url(self, local_host: str | None = None) -> str:
        """The wss:// URL Twilio opens for media; signatures are computed over exactly this."""
        return f"wss://{self.host() or local_host or self.local_host}/media"

    def __repr__(self) -> str:
        return f"PublicAddress({self.url!r})"


def load_settings(**overrides: Any) -> Settings:
    """The one factory used by the CLI and the tests. `overrides` use the flat names
    (`server_port=0`, `data_db=path`), or whole groups (`server={"port": 0}`); `_env_file`
    passes through (None: no .env)."""
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key.startswith("_") or key in Settings.model_fields:
            values[key] = value
            continue
        for group, fields in nested(key, value, Settings.model_fields).items():
            values.setdefault(group, {}).update(fields)
    settings = Settings(**values)
    _note_profiles_folder(settings)
    return settings


def _note_profiles_folder(settings: Settings) -> None:
    """Profile files are looked up before any settings are read (locations.profiles_dir), so a
    data folder named only in .env moves everything but them: said, not left to be found."""
    if settings.data.dir != (found := locations.data_dir()):
        log.warning("the data folder %s is not set in the environment: profile overrides are "
                    "read from %s; export VOICECONSOLE_DATA_DIR to move them too",
                    settings.data.dir, locations.profiles_dir(found))
