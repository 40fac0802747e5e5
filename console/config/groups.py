"""The settings, one small frozen model per group. A field's docstring is its documentation:
`.env.example` is written from it (console/config/env_example.py).

A field `name` of the group `server` is read from `VOICECONSOLE_SERVER_NAME`; group names are one
word each, so the first `_` after the prefix always ends the group (console/config/__init__.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from console import locations
from console.risk import RiskWeights
from console.risk.tracker import RISING_S
from console.risk.words import DEFAULT_NEGATIVE_WORDS

_N = TypeVar("_N", int, float)
_RISK = RiskWeights()  # the risk board's default weights (console/risk/score.py)


class Group(BaseModel):
    """A group of settings: frozen, documented by its fields' docstrings, and strict about names
    (a misspelt `VOICECONSOLE_SERVER_PROT` is an error, not a setting silently left out)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """For a setting whose default is unset, an empty value (`..._TWILIO_AUTH_TOKEN=`, what
        copying .env.example leaves) means unset, never "set to the empty string": an empty
        signing key lets anyone sign."""
        if info.field_name is None or cls.model_fields[info.field_name].default is not None:
            return value
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value


class ServerSettings(Group):
    """The media server and the local admin endpoint."""

    host: str = "127.0.0.1"
    """Interface the media server binds."""
    port: int = 8765
    """Port the media server binds (0 picks a free one)."""
    admin_token: SecretStr | None = None
    """Token for the local admin endpoint used by `voiceconsole control`. Generated when unset."""


class LimitsSettings(Group):
    """What a hostile peer on the open internet can take. Each refusal is counted in /health and
    the status bar."""

    start_deadline_s: float = Field(default=5.0, gt=0, le=60)
    """A media socket must send Twilio's `start` within this long, or it is closed (Twilio sends
    it at once; a socket that does not is holding a slot for nothing)."""
    max_sockets: int = Field(default=1200, ge=1)
    """Media sockets open at once, calls and not-yet-started together; more are refused (503)."""
    max_pending_sockets: int = Field(default=200, ge=1)
    """Of those, sockets that have not sent `start` yet (Twilio sends it at once, so only a
    burst of calls arriving together has many). Past it the one waiting longest is closed to
    make room: someone holding sockets open must not fill the server's memory, nor keep real
    calls out."""
    max_calls: int = Field(default=150, ge=1)
    """Calls at once. Past it, /voice answers with a short spoken "all lines busy" and hangs
    up, and a stream that starts anyway is closed (one process holds ~150 before frames go out
    late: README, Concurrency)."""
    media_rate: float = Field(default=3.0, ge=0)
    """Inbound messages a socket may send, as a multiple of real time (Twilio: 50 media frames a
    second), beyond a MEDIA_BURST_S allowance. A socket over it is closed: a flood would take
    the decode and the event loop from every other call. 0 turns the limit off."""
    media_burst_s: float = Field(default=5.0, gt=0, le=60)
    """How much audio (seconds of frames) a socket may send ahead of real time at once: Twilio
    delivers in real time, but a network stall can release a backlog."""


class DataSettings(Group):
    """Where this instance keeps its state. The database's folder is the instance's data folder:
    the lock (one console, serve or demo at a time), the admin file, logs/ and exports/ live
    there, readable by this user only. Give each instance its own folder."""

    dir: Path = Field(default_factory=lambda: locations.data_dir())
    """The data folder. Unset: the checkout's data/ when run from a source checkout, else
    $XDG_DATA_HOME/voiceconsole (~/.local/share/voiceconsole). Profile overrides are read from
    its profiles/ folder when it is set in the environment (they are found before .env is
    read)."""
    db: Path = Field(default_factory=lambda data: locations.default_db_path(data["dir"]))
    """SQLite file for calls, turns, events and metrics. Unset: voiceconsole.db in the data
    folder."""


class LogSettings(Group):
    """The console's log file (logs/console.log in the data folder)."""

    max_bytes: int = Field(default=10_000_000, ge=10_000)
    """The log is rotated when it reaches this many bytes: calls are logged all day and the file
    would otherwise grow until the disk is full."""
    backup_count: int = Field(default=5, ge=1, le=100)
    """Rotated log files kept (console.log.1 is the newest); the oldest beyond this is deleted."""


class PublicSettings(Group):
    """How Twilio reaches this machine, and what a public server must check."""

    url: str | None = None
    """The public https base that Twilio reaches, e.g. https://abc.ngrok.app (also read as
    PUBLIC_URL). Signatures are checked against it; a tunnel's address replaces it while it runs."""
    ngrok_authtoken: SecretStr | None = None
    """When set (or with --tunnel), an ngrok tunnel provides the public URL (also read as
    NGROK_AUTHTOKEN)."""
    allow_unsigned: bool = False
    """Serve a public address (a tunnel, a public URL, or a bind beyond loopback) without Twilio
    signatures. Off: such a start is refused, since anyone could then place calls, read the
    profile's prompts out of the agent, or forge transfer outcomes. On: it runs, with a warning
    in the status bar and in `doctor` for as long as it does."""

    @field_validator("url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


class GroqSettings(Group):
    """The cloud LLM (Groq, or any OpenAI-compatible server)."""

    api_key: SecretStr | None = None
    """Groq key (also read as GROQ_API_KEY). Without it the LLM tier is the local scripted
    responder, and summaries are made by the profile's rules."""
    base_url: str | None = None
    """OpenAI-compatible origin for the LLM (Groq, llama.cpp server), e.g. http://127.0.0.1:8080.
    No /openai/v1 suffix: the SDK appends it."""


class LlmSettings(Group):
    """Which models answer the caller (cloud tier)."""

    model: str = "llama-3.3-70b-versatile"
    """Primary LLM model."""
    fallback_model: str = "llama-3.1-8b-instant"
    """Used when the primary model keeps failing after the SDK's own retries."""


class DeepgramSettings(Group):
    """Cloud speech-to-text and text-to-speech."""

    api_key: SecretStr | None = None
    """Deepgram key (also read as DEEPGRAM_API_KEY). Without it speech-to-text and
    text-to-speech run locally."""
    base_url: str | None = None
    """Deepgram base (on-prem or tests), e.g. http://127.0.0.1:9000; the ws:// base is derived."""


class SttSettings(Group):
    """Which Deepgram recognizer listens, and how Flux ends turns."""

    engine: Literal["nova", "flux"] = "nova"
    """Which Deepgram recognizer listens (with a Deepgram key): "nova" (Nova-2: endpointing,
    the call decides when a turn ended) or "flux" (Flux: the model ends turns itself, and says
    early when it probably has, so a reply can be prepared before the caller is surely done)."""
    flux_eot_threshold: float = 0.7
    """Flux: how sure the model must be that the turn is over before EndOfTurn (0.5-1.0; higher
    waits longer and cuts in less; 1.0 ends turns only on timeout)."""
    flux_eager_eot_threshold: float = 0.5
    """Flux: how sure it must be for the early EagerEndOfTurn that starts preparing the reply
    (0.3-0.9, at most the EndOfTurn threshold; lower is earlier, with more replies thrown
    away)."""
    flux_eot_timeout_ms: int = 5000
    """Flux: silence (ms) after which a turn ends however unsure the model is (500-60000)."""

    @field_validator("flux_eot_threshold")
    @classmethod
    def _eot_in_range(cls, value: float) -> float:
        return _in_range("VOICECONSOLE_STT_FLUX_EOT_THRESHOLD", value, 0.5, 1.0)

    @field_validator("flux_eager_eot_threshold")
    @classmethod
    def _eager_in_range(cls, value: float) -> float:
        return _in_range("VOICECONSOLE_STT_FLUX_EAGER_EOT_THRESHOLD", value, 0.3, 0.9)

    @field_validator("flux_eot_timeout_ms")
    @classmethod
    def _timeout_in_range(cls, value: int) -> int:
        return _in_range("VOICECONSOLE_STT_FLUX_EOT_TIMEOUT_MS", value, 500, 60000)

    @model_validator(mode="after")
    def _eager_not_above_eot(self) -> Self:
        if self.flux_eager_eot_threshold > self.flux_eot_threshold:
            raise ValueError(
                f"VOICECONSOLE_STT_FLUX_EAGER_EOT_THRESHOLD ({self.flux_eager_eot_threshold}) "
                f"must not exceed VOICECONSOLE_STT_FLUX_EOT_THRESHOLD "
                f"({self.flux_eot_threshold}): Deepgram refuses the stream"
            )
        return self


def _in_range(name: str, value: _N, low: _N, high: _N) -> _N:
    """Deepgram's documented range (developers.deepgram.com/docs/flux/configuration); a value
    outside it would be refused at every call's handshake, so it is refused at start-up."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high} (Deepgram's range), got {value}")
    return value


class TwilioSettings(Group):
    """The Twilio account and number. With the auth token set, every webhook, media-stream
    upgrade and dial callback must carry a valid X-Twilio-Signature."""

    account_sid: str | None = None
    """Twilio account SID (AC...; also read as TWILIO_ACCOUNT_SID). Needed for REST actions:
    transfer, hang-up, webhook sync."""
    auth_token: SecretStr | None = None
    """Twilio auth token (also read as TWILIO_AUTH_TOKEN). When set, every webhook and media
    upgrade must carry a valid signature. A public server without it refuses to start."""
    phone_number: str | None = None
    """The Twilio number (E.164) whose voice webhook is pointed at this server while it runs
    (also read as TWILIO_PHONE_NUMBER)."""
    api_base_url: str | None = None
    """Twilio REST base (tests), e.g. http://127.0.0.1:9001."""
    signature_validation: bool = True
    """Turning this off while a token is set is logged loudly; meant for local experiments only."""


class EmergencySettings(Group):
    """Where emergency calls go."""

    fallback_number: str | None = None
    """Where emergency calls are transferred (E.164; also read as EMERGENCY_FALLBACK_NUMBER)."""
    second_number: str | None = None
    """Dialled when the first emergency number does not answer or is busy."""


class ProfileSettings(Group):
    """Which agent profile answers (files: the packaged profiles, and the data folder's
    profiles/ for the operator's own)."""

    default: str = "scheduling"
    """The agent profile used when a number has none of its own."""
    numbers: dict[str, str] = Field(default_factory=dict)
    """Profile per called number, as JSON: {"+15550001111": "medical_intake"}."""


class TurnsSettings(Group):
    """Turn-taking: when the agent speaks, pauses and resumes."""

    barge_in_window_s: float = 0.8
    """The caller spoke over the agent and it paused: once they are quiet this long with no
    words (a cough, a door, a breath), the reply resumes from the sentence that was cut."""
    unfinished_hold_s: float = Field(default=1.2, gt=0, le=5)
    """A reply is prepared as soon as the caller goes quiet but heard only once they are surely
    done: words that sound unfinished (a trailing comma, "and", "for", "um") wait this long."""
    narrating_hold_s: float = Field(default=0.8, gt=0, le=5)
    """A caller telling something at length (two sentences or more, or they went on after a
    pause) gets this long between sentences before the agent answers."""
    prosody_cue: bool = True
    """Listen to how the caller's voice ended (console/calls/prosody.py): a finished statement
    whose pitch ends level (the plateau of a speaker pausing to go on, neither a final fall nor a
    high rise) waits `level_hold_s` before the agent answers. It stops the agent talking over a
    thinking pause after words that sound whole (bench/midpause.py); on real speech every
    labelled sentence end falls or rises high, so finished turns are answered at once
    (bench/prosody_cue.py). Off: the words alone decide."""
    level_hold_s: float = Field(default=0.7, gt=0, le=5)
    """Seconds of quiet before answering a finished statement whose voice ended level:
    long enough for a thinking pause mid-sentence (600 ms in bench/midpause.py)."""
    backchannels: list[str] = Field(default_factory=list)
    """Words said over the agent that neither interrupt it nor get an answer, as JSON:
    ["mhm", "yeah", "okay"]. Empty: the built-in list (mhm, uh-huh, yeah, yes, okay, right...)."""


class SummarySettings(Group):
    """After the call (issue 14) and on joining one (issue 15)."""

    model: str = "openai/gpt-oss-20b"
    """Cloud tier (a Groq key set): the model that writes each ended call's summary, asked
    for a JSON-schema answer. Groq decodes under the schema on gpt-oss-20b/120b (strict mode);
    with another model set strict to false. Without a key the profile's rules decide."""
    strict: bool = True
    """Ask for strict (constrained) decoding; models without it answer 400 when this is on."""
    timeout_s: float = Field(default=15.0, gt=0, le=120)
    """A summary the model has not written in this long is made by the profile's rules."""
    brief_timeout_s: float = Field(default=6.0, gt=0, le=60)
    """Opening a live call shows a one-line brief: the extract at once, then (cloud tier) the
    summary model's sentence if it answers within this long; else the extract stays, with why."""


class WarmSettings(Group):
    """Warm transfer (issue 15): the caller holds while a colleague is called."""

    ring_timeout_s: int = Field(default=20, ge=5, le=60)
    """How long each target rings before it counts as no-answer (Twilio's call `Timeout`; its
    own default of 60 s is far too long for a caller on hold)."""
    hold_line: str = "Please hold while I connect you to a colleague."
    """What the caller hears, in a loop, while the target is being called."""
    hold_music_url: str = ""
    """An mp3/wav URL played after the hold line (empty: the line alone)."""


class WebhookSettings(Group):
    """The end-of-call webhook (issue 14: the CRM hand-off; docs/webhook.md), delivered at least
    once from a durable outbox in the call store."""

    url: str | None = None
    """Each finished call is POSTed here as JSON once it is summarized (http or https). Empty:
    off, and nothing is queued."""
    secret: SecretStr | None = None
    """HMAC-SHA256 key for the X-Voiceconsole-Signature header. Required with the URL: an
    unsigned hand-off would let anyone who finds the receiver post fake calls into the CRM."""
    max_attempts: int = Field(default=12, ge=1, le=100)
    """Attempts before a delivery is dead-lettered (shown in the console, retried by hand). With
    the default backoff, 12 attempts span 50 minutes to 1.7 hours of receiver outage."""
    backoff_base_s: float = Field(default=5.0, gt=0, le=3600)
    """Wait before the second attempt; each later wait doubles (with jitter), up to the cap."""
    backoff_cap_s: float = Field(default=1800.0, gt=0, le=86400)
    """The longest wait between two attempts."""
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    """A receiver that has not answered within this long counts as a failed attempt (retried)."""

    @model_validator(mode="after")
    def _is_signed(self) -> Self:
        if self.url is None:
            return self
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"VOICECONSOLE_WEBHOOK_URL must be an http(s) URL, got {self.url!r}")
        if self.secret is None:
            raise ValueError("VOICECONSOLE_WEBHOOK_SECRET must be set with "
                             "VOICECONSOLE_WEBHOOK_URL: receivers verify each call with it "
                             "(docs/webhook.md)")
        return self


class ReplyGateSettings(Group):
    """Approve-before-speak (issue 15: gated replies; console/calls/gate.py)."""

    timeout_s: float = Field(default=20.0, gt=0, le=600)
    """Seconds a gated reply waits for an operator's decision before the timeout policy acts."""
    timeout_policy: Literal["approve", "hold"] = "hold"
    """At the timeout: "approve" speaks the proposed reply as it is; "hold" (the safe default:
    nothing unreviewed is said) keeps the caller holding and raises a critical alert."""
    hold_after_s: float = Field(default=0.6, ge=0, le=10)
    """The caller hears a holding line once a gated reply has waited this long (an operator
    who approves sooner puts no line in front of the reply)."""
    hold_every_s: float = Field(default=6.0, ge=2, le=60)
    """A further holding line this often while the gated reply still waits."""


class RecordingSettings(Group):
    """Call recordings (issue 14): one stereo WAV per call, private (0600)."""

    enabled: bool = True
    """Record each call as one stereo WAV (left: the caller; right: what the caller heard). On
    by default so the demo shows it; files are deleted after the retention days. A profile can
    turn it off (`record_calls = false`) or require an announcement first
    (`recording_announcement`): consent rules differ by place and purpose."""
    dir: Path | None = None
    """Folder for recordings. Empty: `recordings/` beside the database (the data folder)."""
    retention_days: int = Field(default=30, ge=0)
    """Recordings older than this many days are deleted, at start-up and daily. 0 keeps them."""


class RiskSettings(Group):
    """The risk board (issue 15: console/risk). Points a live call gets for each occurrence of a
    signal (capped per signal, console/risk/score.py); the dashboard sorts calls by the sum and
    shows the biggest reason."""

    weight_emergency: float = Field(default=_RISK.emergency, ge=0)
    """An emergency phrase, from the caller or the agent (triage's EmergencyDetected)."""
    weight_alert: float = Field(default=_RISK.alert, ge=0)
    """A critical alert (a call that cannot hear the caller, every transfer failing)."""
    weight_transfer_failed: float = Field(default=_RISK.transfer_failed, ge=0)
    """A transfer Twilio refused, or whose target did not answer (counted up to 2)."""
    weight_near_miss: float = Field(default=_RISK.near_miss, ge=0)
    """Caller words that nearly match one of the profile's emergency phrases ("chest pains")."""
    weight_repeated: float = Field(default=_RISK.repeated, ge=0)
    """Each time the caller asks the same question again (counted up to 3)."""
    weight_negative: float = Field(default=_RISK.negative, ge=0)
    """Each negative or angry word of the negative words the caller says (counted up to 4)."""
    weight_silence: float = Field(default=_RISK.silence, ge=0)
    """The caller silent long enough to be reprompted (voice activity, not transcripts)."""
    weight_apology: float = Field(default=_RISK.apology, ge=0)
    """An agent line that apologizes or falls back ("could you say that again?")."""
    weight_degraded: float = Field(default=_RISK.degraded, ge=0)
    """Each provider degraded on the call (fallback model, REST or local voice, apology)."""
    weight_slow: float = Field(default=_RISK.slow, ge=0)
    """Each reply over the voice-to-voice budget (counted up to 5)."""
    v2v_budget_ms: float = Field(default=_RISK.v2v_budget_ms, gt=0)
    """Voice-to-voice (speech end to first frame sent) above this makes a reply slow. The
    embedded tier's p95 is about 1.1 s, the cloud stack's 0.4 s."""
    negative_words: tuple[str, ...] = DEFAULT_NEGATIVE_WORDS
    """Negative or angry words and phrases (whole words, any case; a JSON list). Asking for a
    person or a manager is in the list: it says the agent is not helping."""
    rising_s: float = Field(default=RISING_S, gt=0)
    """A call whose score went up within this many seconds is marked rising on the board."""


class FleetSettings(Group):
    """Many media workers and consoles sharing one Redis (issue 17: console/fleet, docs/scaling.md).
    Unset `url`: one process, the embedded default, exactly as without a fleet."""

    url: SecretStr | None = None
    """Redis URL of the fleet (`redis://host:6379/0`; it may carry a password). Set: `serve` is a
    media worker, the console attaches to the fleet, and `voiceconsole recorder` stores its
    history."""
    name: str | None = None
    """This worker's name on the board and in `fleet status`. Empty: host name and process id."""
    capacity: int = Field(default=75, ge=1)
    """Calls this worker takes before routing sends new ones elsewhere: one worker on one core of
    the development machine held 62-87 calls at voice-to-voice p95 under 600 ms with no frame
    late (bench/fleet.py, docs/scaling.md "Fleet"). Measure your own hardware and set it."""
    heartbeat_s: float = Field(default=1.0, gt=0, le=10)
    """How often a worker renews its heartbeat; it is dead after three missed beats."""
    front_url: str | None = None
    """The fleet's public https base that reaches any live worker (a load balancer in front of
    them all; point the number's voice webhook at it). Set: Twilio's <Connect action> points at
    it, so when a worker dies mid-call Twilio's request for what next reaches a live one, and
    webhooks signed over it are accepted. Empty: each worker's own public URL."""
    stream_maxlen: int = Field(default=100_000, ge=1000)
    """Approximate length the fleet's event stream is trimmed to (Redis MAXLEN ~)."""
    claim_ttl_s: float = Field(default=15.0, gt=1, le=300)
    """An operator's hold on a call lapses this long after their console stops renewing it."""

    @field_validator("front_url")
    @classmethod
    def _front_is_a_base(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"VOICECONSOLE_FLEET_FRONT_URL must be an http(s) URL, got {value!r}")
        return value.rstrip("/") if value else value
