"""What a simulated call does: the options and the utterances of its script."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path


def new_sid(prefix: str) -> str:
    """A SID of Twilio's shape: "CA" a call, "MZ" a stream, "AC" an account."""
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True)
class Utterance:
    """One thing the caller says. `barge_in_after_ms`: start talking this long after the agent's
    next turn starts, instead of waiting for it to finish."""

    mulaw: bytes
    barge_in_after_ms: float | None = None
    wait_for_reply: bool = True
    label: str = ""
    keys: str = ""
    """DTMF keys pressed instead of speaking (`mulaw` is then ignored)."""


@dataclass
class CallerOptions:
    """Who calls where, what they say, and how patient they are. `fast` drops real-time pacing
    (speech frames go out unpaced, playout is instant) for tests and benches of logic, not timing.
    `record_path` gets a WAV (8 kHz PCM16) of what the caller heard."""

    url: str
    auth_token: str | None = None
    signed_url: str | None = None  # the URL the server signs (public wss); default: url as wss
    voice_url: str | None = None
    """Ring this voice webhook (a fleet worker's, which may send the stream to another worker)
    and open the `<Stream url>` its TwiML names, as Twilio does; it is signed over exactly this
    URL. Unset: with an auth token, ring the media server's own /voice, and stream to `url`."""
    follow_action: bool = False
    """When a stream ends with the caller still on the line, ask the `<Connect action>` of the
    TwiML what next and open the new `<Stream>` it names (same call, new stream), as Twilio
    does: a fleet resumes a call whose worker died that way. Needs a TwiML: a voice_url or an
    auth token. Unset: the call ends with its stream."""
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    stream_sid: str = field(default_factory=lambda: new_sid("MZ"))
    account_sid: str = field(default_factory=lambda: new_sid("AC"))
    from_number: str = "+15550001111"
    to_number: str = "+15550002222"
    custom_parameters: dict[str, str] | None = None  # default: caller/called as our TwiML sets
    fast: bool = False
    utterances: list[Utterance] = field(default_factory=list)
    dtmf: str = ""
    record_path: Path | None = None
    keep_frames: bool = False  # keep every agent frame received (`received_frames`), for tests
    wait_for_greeting: bool = True
    greeting_timeout_s: float = 3.0  # no agent audio this long after start: nobody greets
    reply_timeout_s: float = 10.0
    reply_quiet_ms: float = 600.0  # agent audio played out and this quiet = reply finished
    dtmf_gap_ms: float = 150.0
    dtmf_reply_timeout_s: float = 3.0  # DTMF may get no spoken answer: wait this long for one
    fast_tail_ms: float = 400.0  # silence after each utterance in fast mode, for endpointing
    connect_timeout_s: float = 5.0
    max_call_s: float = 300.0
    hold: Callable[[], Awaitable[object]] | None = None
    """After the script, stay on the line (silent) until this returns or the server hangs up,
    instead of hanging up at once: a drill's caller waits for the operator."""

    def signed(self) -> str:
        """The server validates the wss:// form of the URL Twilio was told to open."""
        if self.signed_url:
            return self.signed_url
        scheme, _, rest = self.url.partition("://")
        return f"wss://{rest}" if scheme in ("ws", "wss") else self.url

    def parameters(self) -> dict[str, str]:
        if self.custom_parameters is not None:
            return dict(self.custom_parameters)
        return {"caller": self.from_number, "called": self.to_number}
