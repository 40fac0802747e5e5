"""One typed settings object, read from the environment and `.env`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from console import locations
from console.risk import RiskWeights
from console.risk.tracker import RISING_S
from console.risk.words import DEFAULT_NEGATIVE_WORDS

log = logging.getLogger(__name__)
_N = TypeVar("_N", int, float)
# Optional settings for which an empty value means "not set" (secrets above all).
_OPTIONAL_TEXT = (
    "groq_api_key", "deepgram_api_key", "twilio_account_sid", "twilio_auth_token",
    "twilio_phone_number", "emergency_fallback_number", "emergency_second_number", "public_url",
    "deepgram_base_url", "groq_base_url", "twilio_api_base_url", "ngrok_authtoken", "admin_token",
    "call_webhook_url", "call_webhook_secret",
    "recordings_dir",
)
_RISK = RiskWeights()  # the risk board's default weights (console/risk/score.py)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseSettings):
    """Everything voiceconsole reads from its environment. Secrets are `SecretStr` so that they
    never print in logs, reprs or errors."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    groq_api_key: SecretStr | None = None
    """Groq key. Without it the LLM tier is the local scripted responder."""
    deepgram_api_key: SecretStr | None = None
    """Deepgram key. Without it speech-to-text and text-to-speech run locally."""
    twilio_account_sid: str | None = None
    """Twilio account SID (AC...). Needed for REST actions: transfer, hang-up, webhook sync."""
    twilio_auth_token: SecretStr | None = None
    """Twilio auth token. When set, every webhook and media upgrade must carry a valid signature."""
    twilio_phone_number: str | None = None
    """The Twilio number (E.164) whose voice webhook is pointed at this server."""
    emergency_fallback_number: str | None = None
    """Where emergency calls are transferred (E.164)."""
    emergency_second_number: str | None = None
    """Dialled when the first emergency number does not answer or is busy."""
    public_url: str | None = None
    """The public https base that Twilio reaches, e.g. https://abc.ngrok.app."""
    host: str = "127.0.0.1"
    """Interface the media server binds."""
    port: int = 8765
    """Port the media server binds (0 picks a free one)."""
    voiceconsole_db: Path = Field(default_factory=locations.default_db_path)
    """SQLite file for calls, turns, events and metrics."""
    stt_engine: Literal["nova", "flux"] = "nova"
    """Which Deepgram recognizer listens (with DEEPGRAM_API_KEY): "nova" (Nova-2: endpointing,
    the call decides when a turn ended) or "flux" (Flux: the model ends turns itself, and says
    early when it probably has, so a reply can be prepared before the caller is surely done)."""
    flux_eot_threshold: float = 0.7
    """Flux: how sure the model must be that the turn is over before EndOfTurn (0.5-1.0; higher
    waits longer and cuts in less; 1.0 ends turns only on timeout)."""
    flux_eager_eot_threshold: float = 0.5
    """Flux: how sure it must be for the early EagerEndOfTurn that starts preparing the reply
    (0.3-0.9, at most FLUX_EOT_THRESHOLD; lower is earlier, with more replies thrown away)."""
    flux_eot_timeout_ms: int = 5000
    """Flux: silence (ms) after which a turn ends however unsure the model is (500-60000)."""
    deepgram_base_url: str | None = None
    """Deepgram base (on-prem or tests), e.g. http://127.0.0.1:9000; the ws:// base is derived."""
    groq_base_url: str | None = None
    """OpenAI-compatible origin for the LLM (Groq, llama.cpp server). No /openai/v1 suffix."""
    twilio_api_base_url: str | None = None
    """Twilio REST base (tests), e.g. http://127.0.0.1:9001."""
    twilio_signature_validation: bool = True
    """Turning this off while a token is set is logged loudly; meant for local experiments only."""
    profile: str = "scheduling"
    """The agent profile used when a number has none of its own."""
    profile_numbers: dict[str, str] = Field(default_factory=dict)
    """Profile per called number, as JSON: {"+15550001111": "medical_intake"}."""
    llm_model: str = "llama-3.3-70b-versatile"
    """Primary LLM model."""
    llm_fallback_model: str = "llama-3.1-8b-instant"
    """Used when the primary model keeps failing after the SDK's own retries."""
    # --- after the call: the summary (issue 14) ------------------------------------------------
    summary_model: str = "openai/gpt-oss-20b"
    """Cloud tier (GROQ_API_KEY set): the model that writes each ended call's summary, asked
    for a JSON-schema answer. Groq decodes under the schema on gpt-oss-20b/120b (strict mode);
    with another model set SUMMARY_STRICT=false. Without a key the profile's rules decide."""
    summary_strict: bool = True
    """Ask for strict (constrained) decoding; models without it answer 400 when this is on."""
    summary_timeout_s: float = Field(15.0, gt=0, le=120)
    """A summary the model has not written in this long is made by the profile's rules."""
    # --- issue 15: catch-up on join ---
    brief_timeout_s: float = Field(6.0, gt=0, le=60)
    """Opening a live call shows a one-line brief: the extract at once, then (cloud tier) the
    summary model's sentence if it answers within this long; else the extract stays, with why."""
    # --- issue 15, part 4: warm transfer -------------------------------------------------
    warm_ring_timeout_s: int = Field(20, ge=5, le=60)
    """Warm transfer: how long each target rings before it counts as no-answer (Twilio's call
    `Timeout`; its own default of 60 s is far too long for a caller on hold)."""
    warm_hold_line: str = "Please hold while I connect you to a colleague."
    """Warm transfer: what the caller hears, in a loop, while the target is being called."""
    warm_hold_music_url: str = ""
    """Warm transfer: an mp3/wav URL played after the hold line (empty: the line alone)."""
    barge_in_window_s: float = 0.8
    """The caller spoke over the agent and it paused: once they are quiet this long with no
    words (a cough, a door, a breath), the reply resumes from the sentence that was cut."""
    unfinished_hold_s: float = Field(1.2, gt=0, le=5)
    """A reply is prepared as soon as the caller goes quiet but heard only once they are surely
    done: words that sound unfinished (a trailing comma, "and", "for", "um") wait this long."""
    narrating_hold_s: float = Field(0.8, gt=0, le=5)
    """A caller telling something at length (two sentences or more, or they went on after a
    pause) gets this long between sentences before the agent answers."""
    # --- issue 12: the caller's pitch at a candidate turn end ---
    prosody_cue: bool = False
    """Listen to how the caller's voice ended (console/calls/prosody.py): a finished statement
    whose pitch does not end falling (level or rising, as a speaker who pauses to go on sounds)
    waits `level_hold_s` before the agent answers. Off by default: it stops the agent talking
    over a thinking pause after words that sound whole (bench/midpause.py: 2 of 20 -> 0), but it
    also holds about 1 in 10 real finished statements (bench/prosody_cue.py), which lifts
    voice-to-voice p95 from ~440 ms to ~680 ms (bench/pipeline.py)."""
    level_hold_s: float = Field(0.7, gt=0, le=5)
    """Seconds of quiet before answering a finished statement whose voice did not end falling:
    long enough for a thinking pause mid-sentence (600 ms in bench/midpause.py)."""
    backchannels: list[str] = Field(default_factory=list)
    """Words said over the agent that neither interrupt it nor get an answer, as JSON:
    ["mhm", "yeah", "okay"]. Empty: the built-in list (mhm, uh-huh, yeah, yes, okay, right...)."""
    ngrok_authtoken: SecretStr | None = None
    """When set (or with --tunnel), an ngrok tunnel provides the public URL."""
    admin_token: SecretStr | None = None
    """Token for the local admin endpoint used by `voiceconsole control`. Generated when unset."""

    # --- exposure and limits: what a hostile peer on the open internet can take ---------------
    allow_unsigned_public: bool = False
    """Serve a public address (a tunnel, PUBLIC_URL, or a bind beyond loopback) without Twilio
    signatures. Off: such a start is refused, since anyone could then place calls, read the
    profile's prompts out of the agent, or forge transfer outcomes. On: it runs, with a warning
    in the status bar and in `doctor` for as long as it does."""
    start_deadline_s: float = Field(5.0, gt=0, le=60)
    """A media socket must send Twilio's `start` within this long, or it is closed (Twilio sends
    it at once; a socket that does not is holding a slot for nothing)."""
    max_sockets: int = Field(1200, ge=1)
    """Media sockets open at once, calls and not-yet-started together; more are refused (503)."""
    max_pending_sockets: int = Field(200, ge=1)
    """Of those, sockets that have not sent `start` yet (Twilio sends it at once, so only a
    burst of calls arriving together has many). Past it the one waiting longest is closed to
    make room: someone holding sockets open must not fill the server's memory, nor keep real
    calls out."""
    max_calls: int = Field(150, ge=1)
    """Calls at once. Past it, /voice answers with a short spoken "all lines busy" and hangs
    up, and a stream that starts anyway is closed (one process holds ~150 before frames go out
    late: README, Concurrency)."""
    media_rate_limit: float = Field(3.0, ge=0)
    """Inbound messages a socket may send, as a multiple of real time (Twilio: 50 media frames a
    second), beyond a MEDIA_BURST_S allowance. A socket over it is closed: a flood would take
    the decode and the event loop from every other call. 0 turns the limit off."""
    media_burst_s: float = Field(5.0, gt=0, le=60)
    """How much audio (seconds of frames) a socket may send ahead of real time at once: Twilio
    delivers in real time, but a network stall can release a backlog."""

    # --- Process and files ----------------------------------------------------------------
    log_max_bytes: int = Field(10_000_000, ge=10_000)
    """The console's log file (data/logs/console.log) is rotated when it reaches this many bytes:
    calls are logged all day and the file would otherwise grow until the disk is full."""
    log_backup_count: int = Field(5, ge=1, le=100)
    """Rotated log files kept (console.log.1 is the newest); the oldest beyond this is deleted."""

    # --- End-of-call webhook (issue 14: the CRM hand-off; docs/webhook.md) ---------------------
    call_webhook_url: str | None = None
    """Each finished call is POSTed here as JSON once it is summarized (http or https). Empty:
    off, and nothing is queued."""
    call_webhook_secret: SecretStr | None = None
    """HMAC-SHA256 key for the X-Voiceconsole-Signature header. Required with CALL_WEBHOOK_URL:
    an unsigned hand-off would let anyone who finds the receiver post fake calls into the CRM."""
    call_webhook_max_attempts: int = Field(12, ge=1, le=100)
    """Attempts before a delivery is dead-lettered (shown in the console, retried by hand). With
    the default backoff, 12 attempts span 50 minutes to 1.7 hours of receiver outage."""
    call_webhook_backoff_base_s: float = Field(5.0, gt=0, le=3600)
    """Wait before the second attempt; each later wait doubles (with jitter), up to the cap."""
    call_webhook_backoff_cap_s: float = Field(1800.0, gt=0, le=86400)
    """The longest wait between two attempts."""
    call_webhook_timeout_s: float = Field(10.0, gt=0, le=300)
    """A receiver that has not answered within this long counts as a failed attempt (retried)."""

    # --- Approve-before-speak (issue 15: gated replies; console/calls/gate.py) ------------------
    gate_timeout_s: float = Field(20.0, gt=0, le=600)
    """Seconds a gated reply waits for an operator's decision before GATE_TIMEOUT_POLICY acts."""
    gate_timeout_policy: Literal["approve", "hold"] = "hold"
    """At the timeout: "approve" speaks the proposed reply as it is; "hold" (the safe default:
    nothing unreviewed is said) keeps the caller holding and raises a critical alert."""
    gate_hold_after_s: float = Field(0.6, ge=0, le=10)
    """The caller hears a holding line once a gated reply has waited this long (an operator
    who approves sooner puts no line in front of the reply)."""
    gate_hold_every_s: float = Field(6.0, ge=2, le=60)
    """A further holding line this often while the gated reply still waits."""

    @model_validator(mode="after")
    def _webhook_is_signed(self) -> Self:
        if self.call_webhook_url is None:
            return self
        url = self.call_webhook_url
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"CALL_WEBHOOK_URL must be an http(s) URL, got {url!r}")
        if self.call_webhook_secret is None:
            raise ValueError("CALL_WEBHOOK_SECRET must be set with CALL_WEBHOOK_URL: receivers "
                             "verify each call with it (docs/webhook.md)")
        return self

    # --- Recordings (issue 14) ---------------------------------------------------------------
    recording_enabled: bool = True
    """Record each call as one stereo WAV (left: the caller; right: what the caller heard). On
    by default so the demo shows it; files are private (0600) and deleted after
    RECORDING_RETENTION_DAYS. A profile can turn it off (`record_calls = false`) or require an
    announcement first (`recording_announcement`): consent rules differ by place and purpose."""
    recordings_dir: Path | None = None
    """Folder for recordings. Empty: `recordings/` beside the database (the data folder)."""
    recording_retention_days: int = Field(30, ge=0)
    """Recordings older than this many days are deleted, at start-up and daily. 0 keeps them."""

    def recordings_folder(self) -> Path:
        return self.recordings_dir or locations.recordings_dir(self.voiceconsole_db)

    # --- The risk board (issue 15, part 1: console/risk) ----------------------------------------
    # Points a live call gets for each occurrence of a signal (capped per signal, console/risk/
    # score.py); the console's dashboard sorts calls by the sum and shows the biggest reason.
    risk_weight_emergency: float = Field(_RISK.emergency, ge=0)
    """An emergency phrase, from the caller or the agent (triage's EmergencyDetected)."""
    risk_weight_alert: float = Field(_RISK.alert, ge=0)
    """A critical alert (a call that cannot hear the caller, every transfer failing)."""
    risk_weight_transfer_failed: float = Field(_RISK.transfer_failed, ge=0)
    """A transfer Twilio refused, or whose target did not answer (counted up to 2)."""
    risk_weight_near_miss: float = Field(_RISK.near_miss, ge=0)
    """Caller words that nearly match one of the profile's emergency phrases ("chest pains")."""
    risk_weight_repeated: float = Field(_RISK.repeated, ge=0)
    """Each time the caller asks the same question again (counted up to 3)."""
    risk_weight_negative: float = Field(_RISK.negative, ge=0)
    """Each negative or angry word of RISK_NEGATIVE_WORDS the caller says (counted up to 4)."""
    risk_weight_silence: float = Field(_RISK.silence, ge=0)
    """The caller silent long enough to be reprompted (voice activity, not transcripts)."""
    risk_weight_apology: float = Field(_RISK.apology, ge=0)
    """An agent line that apologizes or falls back ("could you say that again?")."""
    risk_weight_degraded: float = Field(_RISK.degraded, ge=0)
    """Each provider degraded on the call (fallback model, REST or local voice, apology)."""
    risk_weight_slow: float = Field(_RISK.slow, ge=0)
    """Each reply over RISK_V2V_BUDGET_MS voice-to-voice (counted up to 5)."""
    risk_v2v_budget_ms: float = Field(_RISK.v2v_budget_ms, gt=0)
    """Voice-to-voice (speech end to first frame sent) above this makes a reply slow. The
    embedded tier's p95 is about 1.1 s, the cloud stack's 0.4 s."""
    risk_negative_words: tuple[str, ...] = DEFAULT_NEGATIVE_WORDS
    """Negative or angry words and phrases (whole words, any case; a JSON list in .env). Asking
    for a person or a manager is in the list: it says the agent is not helping."""
    risk_rising_s: float = Field(RISING_S, gt=0)
    """A call whose score went up within this many seconds is marked rising on the board."""

    @field_validator(*_OPTIONAL_TEXT, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`TWILIO_AUTH_TOKEN=` (what copying .env.example leaves) means unset, never "set to
        the empty string": an empty signing key lets anyone sign."""
        if isinstance(value, str | SecretStr):
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            return value if text.strip() else None
        return value

    @field_validator("flux_eot_threshold")
    @classmethod
    def _eot_in_range(cls, value: float) -> float:
        return _in_range("FLUX_EOT_THRESHOLD", value, 0.5, 1.0)

    @field_validator("flux_eager_eot_threshold")
    @classmethod
    def _eager_in_range(cls, value: float) -> float:
        return _in_range("FLUX_EAGER_EOT_THRESHOLD", value, 0.3, 0.9)

    @field_validator("flux_eot_timeout_ms")
    @classmethod
    def _timeout_in_range(cls, value: int) -> int:
        return _in_range("FLUX_EOT_TIMEOUT_MS", value, 500, 60000)

    @model_validator(mode="after")
    def _eager_not_above_eot(self) -> Self:
        if self.flux_eager_eot_threshold > self.flux_eot_threshold:
            raise ValueError(
                f"FLUX_EAGER_EOT_THRESHOLD ({self.flux_eager_eot_threshold}) must not exceed "
                f"FLUX_EOT_THRESHOLD ({self.flux_eot_threshold}): Deepgram refuses the stream"
            )
        return self

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def validates_signatures(self) -> bool:
        return self.twilio_auth_token is not None and self.twilio_signature_validation

    def public_host(self) -> str | None:
        return urlsplit(self.public_url).netloc if self.public_url else None

    def stream_url(self, local_host: str | None = None) -> str:
        """The wss:// URL Twilio opens for media; signatures are computed over exactly this."""
        host = self.public_host() or local_host or f"{self.host}:{self.port}"
        return f"wss://{host}/media"

    def unsigned_reason(self) -> str | None:
        """Why Twilio's signatures are not enforced, or None when they are."""
        if self.twilio_auth_token is None:
            return "no TWILIO_AUTH_TOKEN"
        if not self.twilio_signature_validation:
            return "TWILIO_SIGNATURE_VALIDATION is off"
        return None

    def public_reason(self, want_tunnel: bool = False) -> str | None:
        """What makes this server reachable from beyond this machine, or None."""
        if want_tunnel or self.ngrok_authtoken is not None:
            return "an ngrok tunnel"
        if self.public_url:
            return f"PUBLIC_URL={self.public_url}"
        if self.host not in LOOPBACK_HOSTS:
            return f"HOST={self.host} (beyond loopback)"
        return None

    def exposure_problem(self, want_tunnel: bool = False) -> str | None:
        """A public server that checks no signatures: anyone could call in and forge Twilio's
        callbacks. The message says what to do; None when the set-up is safe or allowed."""
        public, unsigned = self.public_reason(want_tunnel), self.unsigned_reason()
        if public is None or unsigned is None:
            return None
        return (f"the server would be public ({public}) without Twilio signatures ({unsigned}): "
                "set TWILIO_AUTH_TOKEN, or ALLOW_UNSIGNED_PUBLIC=true to run it anyway")

    def refusal_to_serve(self, want_tunnel: bool = False) -> str | None:
        """Why start-up must be refused (`exposure_problem`), unless ALLOW_UNSIGNED_PUBLIC
        says to run anyway."""
        return None if self.allow_unsigned_public else self.exposure_problem(want_tunnel)

    def warn_about_risky_choices(self) -> None:
        if self.twilio_auth_token is not None and not self.twilio_signature_validation:
            log.warning("Twilio signature validation is OFF although a token is set")


def _in_range(name: str, value: _N, low: _N, high: _N) -> _N:
    """Deepgram's documented range (developers.deepgram.com/docs/flux/configuration); a value
    outside it would be refused at every call's handshake, so it is refused at start-up."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high} (Deepgram's range), got {value}")
    return value


def load_settings(**overrides: object) -> Settings:
    """The one factory used by the CLI and the tests."""
    return Settings(**overrides)
