"""Facts about calls, published on one bus. Storage, the console and headless printers subscribe.

Events are frozen dataclasses named as past-tense facts. Every event carries the call it belongs to
and the wall-clock time it happened (`at`, epoch seconds), so a subscriber never has to ask.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class CallEvent:
    call_sid: str
    at: float = field(default_factory=_now, kw_only=True)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        """Everything but the call id and time, for the audit log."""
        data = dataclasses.asdict(self)
        data.pop("call_sid")
        data.pop("at")
        return data


@dataclass(frozen=True)
class CallStarted(CallEvent):
    stream_sid: str
    from_number: str = ""
    to_number: str = ""
    profile: str = ""


@dataclass(frozen=True)
class CallEnded(CallEvent):
    reason: str


@dataclass(frozen=True)
class CallerTranscribed(CallEvent):
    """Interim (final=False) or final text of what the caller is saying."""

    text: str
    final: bool


@dataclass(frozen=True)
class TurnCompleted(CallEvent):
    """A finished turn. For the agent, `text` is what the caller actually heard."""

    role: str  # "caller" | "agent" | "operator"
    text: str
    started: float
    ended: float
    interrupted: bool = False


@dataclass(frozen=True)
class AgentSpoke(CallEvent):
    """One sentence of agent speech was queued to the caller."""

    text: str


@dataclass(frozen=True)
class AgentInterrupted(CallEvent):
    """The agent's reply was stopped for good; `heard` is what the caller heard of it."""

    heard: str
    cause: str  # "caller-words" | "dtmf" | "operator" | "emergency"


@dataclass(frozen=True)
class AgentResumed(CallEvent):
    """The caller's sound over the agent was not an interruption (a cough, a "mhm"): the paused
    reply plays on from the sentence that was cut, so no word is lost."""

    paused_ms: float
    backchannel: str = ""  # what the caller said, if anything


@dataclass(frozen=True)
class SpeculationSettled(CallEvent):
    """A reply prepared before the caller's turn was sure to be over, and what became of it:
    "used" (released: the caller heard it), "discarded" (the caller went on talking),
    "restarted" (the turn's text changed: a new reply replaced it) or "cancelled" (an operator,
    an emergency, a hang-up). `held_ms`: from the start of the reply to that outcome."""

    text: str
    outcome: str
    held_ms: float
    rule: str = ""  # why it was released when it was (the release rule's reason)


@dataclass(frozen=True)
class StateChanged(CallEvent):
    # greeting | listening | thinking | speaking | paused | operator | transferring | ending | ended
    state: str


@dataclass(frozen=True)
class TurnMeasured(CallEvent):
    """Per-turn latency stages in milliseconds (see DESIGN.md's latency vocabulary)."""

    turn: int
    stages: dict[str, float]


@dataclass(frozen=True)
class DtmfPressed(CallEvent):
    digit: str


@dataclass(frozen=True)
class ProtocolErrorCounted(CallEvent):
    """Bad input on a media stream: counted, logged, never fatal."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class ProviderDegraded(CallEvent):
    """A dependency failed and something weaker took over (fallback model, REST TTS, apology)."""

    provider: str
    problem: str
    fallback: str


@dataclass(frozen=True)
class UsageRecorded(CallEvent):
    llm_tokens: int = 0
    tts_characters: int = 0
    stt_seconds: float = 0.0


@dataclass(frozen=True)
class PlayoutMeasured(CallEvent):
    """How well agent audio kept to the real-time clock over the whole call."""

    frames_sent: int
    late_frames: int  # sent > 40 ms after the caller's line ran dry although they were ready
    worst_lateness_ms: float


@dataclass(frozen=True)
class EmergencyDetected(CallEvent):
    source: str  # "agent" | "caller"
    phrase: str
    text: str


@dataclass(frozen=True)
class TransferAttempted(CallEvent):
    target: str
    attempt: int
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class TransferFinished(CallEvent):
    target: str
    outcome: str  # completed | no-answer | busy | failed | ...


@dataclass(frozen=True)
class AlertRaised(CallEvent):
    """Something the operator must act on now (e.g. every emergency transfer attempt failed)."""

    level: str  # "warning" | "critical"
    message: str


@dataclass(frozen=True)
class OperatorActed(CallEvent):
    action: str
    actor: str
    detail: str = ""
    request: str = ""  # the fleet console's request it answers ('' when not asked over a fleet)


Subscriber = Callable[[CallEvent], None]


class EventBus:
    """Synchronous fan-out. Subscribers must not block: they hand the event on (a queue, a Textual
    message) and return. A subscriber that raises is logged and kept, so one bad face cannot stop
    a call."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: CallEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.kind)


@dataclass(frozen=True)
class AudioDropped(CallEvent):
    """Caller audio was dropped. "ear": the call's recognizer fell behind (it stopped reading, or
    the caller sent faster than real time): the oldest frames went, the newest were kept, one
    event per episode. "deaf": the recognizer was gone with no fallback, so nothing was queued;
    one event when the call ends. `frames` of 20 ms each."""

    where: str  # "ear": the recognizer fell behind; "deaf": there was no recognizer left
    frames: int


# --- the safety path (issue 13) ------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileRejected(CallEvent):
    """An edited profile file is invalid: the call uses the last good version of it, and the
    file stays rejected until it is fixed. `problem` names the file and the field."""

    profile: str
    problem: str


# --- after the call (issue 14) ------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingSaved(CallEvent):
    """The call's stereo recording is complete at `path` (left: the caller; right: what the caller
    heard), `seconds` long. Published once, when the call ends."""

    path: str
    seconds: float


@dataclass(frozen=True)
class CallSummarized(CallEvent):
    """What the call came to, written when it ended: at most three sentences, a disposition from
    the profile's list, action items and the profile's extracted fields. `source` is "llm" (cloud
    tier) or "rules" (the deterministic extractor)."""

    summary: str
    disposition: str
    action_items: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()  # (name, value), in the profile's order
    source: str = "rules"


@dataclass(frozen=True)
class CallerSpanRedacted(CallEvent):
    """Something sensitive (`what`: "card", "ssn", "dob", "dtmf") was said or keyed between
    `started` and `ended` (epoch seconds, the clock of `at`). The stored text already hides it; the
    recording mutes that span of the caller's channel. (Not `kind`: every event's `kind` is its
    type's name, a read-only property, and a field of that name made the event unconstructible.)"""

    started: float
    ended: float
    what: str


@dataclass(frozen=True)
class SummaryEdited(CallEvent):
    """An operator corrected what a call came to, after it ended. `item` is "summary",
    "disposition" or "fields.NAME"; `old` and `new` are the values before and after ("" for
    none). Its row in the events table is the audit: who (`actor`), when (`at`), what, from, to."""

    item: str
    old: str
    new: str
    actor: str


# --- approve-before-speak (issue 15, part 2) ----------------------------------------------------


@dataclass(frozen=True)
class ReplyProposed(CallEvent):
    """A gated reply as it streams to the operator, before any of it is spoken: `text` is all of
    it so far, `complete` once the LLM has finished it. `reason` says why it was gated: "operator"
    (the call's gate is on) or the profile's topic it matched. Only the complete one is stored.

    The operator approves what they see: `approved` is the start of `text` already approved (the
    caller hears it whatever follows), and `approvable` says complete pieces wait for approval
    (so an approval now speaks them), while the reply is still being written or once it is
    complete."""

    text: str
    complete: bool
    reason: str
    approved: str = ""
    approvable: bool = False


@dataclass(frozen=True)
class GatedReplyDecided(CallEvent):
    """The audit of one gated reply: what the agent proposed, the decision ("approved", "edited",
    "rejected", "auto-approved" by the timeout policy, or "withdrawn": the caller went on, an
    emergency or a hang-up overtook it), who decided, and `decide_ms` from the complete proposal
    to the decision. `spoken` is all the caller was allowed to hear of it ("" when nothing): the
    part approved before the decision, then the proposal's rest or the edit. `approved_early`
    counts the pieces (first clause, sentences) approved while the reply was still being written."""

    proposed: str
    decision: str
    spoken: str
    actor: str
    decide_ms: float
    reason: str = ""
    approved_early: int = 0


# --- issue 15, part 4: warm transfer ---------------------------------------------------------


@dataclass(frozen=True)
class WarmTransferStarted(CallEvent):
    """The caller is on hold in a conference and `target` is being called; they will hear `brief`
    (summary so far, the caller's number, `reason`) before they are joined."""

    target: str
    reason: str
    brief: str


@dataclass(frozen=True)
class WarmTransferHolding(CallEvent):
    """Twilio moved the caller into the conference and their media stream ended: they hear the
    hold line now; the call is not over (its session waits for the outcome)."""


@dataclass(frozen=True)
class WarmTransferConnected(CallEvent):
    """`target` answered, heard the brief and is joined with the caller: the agent is done."""

    target: str


@dataclass(frozen=True)
class WarmTransferReturned(CallEvent):
    """No target took the call (`outcome` of the last one: no-answer, busy, failed, canceled):
    the caller goes back to the agent, conversation intact."""

    target: str
    outcome: str


# --- drills (issue 15, part 5: console/drill) ---------------------------------------------------


@dataclass(frozen=True)
class DrillCallStarted(CallEvent):
    """This call is a drill placed by `voiceconsole drill`, not a caller: its stream carried the
    `drill` parameter (console/drill/marker.py). `drill` names the run, `scenario` its script. The
    board marks the call, the store keeps it with the call (`calls.drill`), its summary says it was
    a drill, and the end-of-call webhook skips it."""

    drill: str
    scenario: str = ""


# --- the risk board (issue 15, part 1) ----------------------------------------------------------


@dataclass(frozen=True)
class CallerWentQuiet(CallEvent):
    """The caller has made no sound for `seconds` while it was their turn (our voice activity on
    the inbound audio, never transcripts: the idle ladder's measure), so the agent reprompts.
    One event per reprompt; the console's risk score counts it."""

    seconds: float


# --- a fleet (issue 17: console/fleet) -----------------------------------------------------------


@dataclass(frozen=True)
class CallHosted(CallEvent):
    """The call runs on the media worker `worker`. A fleet console publishes it on its own bus
    (never on the fleet's stream) when it first sees the call, and again if the call moves to
    another worker, so the board can name the worker."""

    worker: str


@dataclass(frozen=True)
class CallClaimed(CallEvent):
    """An operator took the call for themselves: take-over is exclusive across the fleet's
    consoles (console/fleet/claims.py). `holder` is the operator's name, `console` which console
    they are at (host and process)."""

    holder: str
    console: str


@dataclass(frozen=True)
class ClaimReleased(CallEvent):
    """The operator's hold on the call ended: "handed back", "console closed", or "lapsed"
    (their console stopped renewing it: it quit or lost Redis)."""

    holder: str
    why: str


@dataclass(frozen=True)
class OperatorActionFailed(CallEvent):
    """An operator's action, sent to the call's worker from a fleet console, could not be done
    there (the call had ended, no reply was waiting, ...). `request` is the console's id for it."""

    action: str
    actor: str
    error: str
    request: str = ""
