"""One-line words for events and numbers, shared by the timeline, the alert and the tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.events import (
    AgentInterrupted,
    AgentResumed,
    AlertRaised,
    AudioDropped,
    CallClaimed,
    CallEnded,
    CallerSpanRedacted,
    CallerWentQuiet,
    CallEvent,
    CallStarted,
    CallSummarized,
    ClaimReleased,
    DtmfPressed,
    EmergencyDetected,
    GatedReplyDecided,
    OperatorActed,
    OperatorActionFailed,
    ProfileRejected,
    ProtocolErrorCounted,
    ProviderDegraded,
    RecordingSaved,
    SpeculationSettled,
    StateChanged,
    SummaryEdited,
    TransferAttempted,
    TransferFinished,
    WarmTransferConnected,
    WarmTransferHolding,
    WarmTransferReturned,
    WarmTransferStarted,
)
from console.safe_text import printable
from console.tui.gated import describe_decision


def describe(event: CallEvent) -> str | None:
    """A timeline line for `event`, or None for high-rate kinds the transcript already shows.
    Printable (console.safe_text): it may quote a caller, or a stored payload."""
    words = _WORDS.get(type(event))
    return printable(words(event)) if words is not None else None


def duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def millis(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _started(e: CallStarted) -> str:
    return f"call from {e.from_number or 'unknown'} (profile {e.profile or 'default'})"


def _transfer_attempted(e: TransferAttempted) -> str:
    result = "dialling" if e.ok else "failed"
    detail = f" ({e.detail})" if e.detail else ""
    return f"transfer attempt {e.attempt} to {e.target}: {result}{detail}"


STATE_WORDS = {"paused": "paused for the caller"}


def _resumed(e: AgentResumed) -> str:
    said = f"“{e.backchannel}”" if e.backchannel else "no words"
    return f"agent resumed after {e.paused_ms:.0f} ms ({said}): no word lost"


_SPECULATION_WORDS = {
    "discarded": "prepared reply dropped unheard: the caller went on",
    "restarted": "prepared reply redone: the caller said more",
    "cancelled": "prepared reply cancelled unheard",
}


def _speculation(e: SpeculationSettled) -> str:
    if e.outcome == "used":
        return f"answered once sure, {e.held_ms:.0f} ms after preparing ({e.rule})"
    return _SPECULATION_WORDS.get(e.outcome, f"prepared reply {e.outcome}")


def _audio_dropped(e: AudioDropped) -> str:
    why = "no recognizer" if e.where == "deaf" else "the recognizer fell behind"
    return f"{duration(e.frames * 0.02)} of caller audio dropped: {why}"


def _operator(e: OperatorActed) -> str:
    detail = f": {e.detail}" if e.detail else ""
    return f"{e.actor} {e.action.replace('_', ' ').replace('-', ' ')}{detail}"


_WORDS: dict[type[CallEvent], Callable[[Any], str]] = {
    CallStarted: _started,
    CallEnded: lambda e: f"call ended: {e.reason}",
    StateChanged: lambda e: f"state → {STATE_WORDS.get(e.state, e.state)}",
    AgentInterrupted: lambda e: f"agent interrupted ({e.cause})",
    AgentResumed: _resumed,
    SpeculationSettled: _speculation,
    EmergencyDetected: lambda e: f"EMERGENCY “{e.phrase}” heard from {e.source}",
    TransferAttempted: _transfer_attempted,
    TransferFinished: lambda e: f"transfer to {e.target}: {e.outcome}",
    OperatorActed: _operator,
    ProviderDegraded: lambda e: f"{e.provider} degraded: {e.problem} → {e.fallback}",
    ProtocolErrorCounted: lambda e: f"protocol error: {e.reason}",
    DtmfPressed: lambda e: f"caller pressed {e.digit}",
    AlertRaised: lambda e: f"{e.level.upper()} ALERT: {e.message}",
    ProfileRejected: lambda e: f"profile {e.profile} edit rejected ({e.problem}): last good used",
    AudioDropped: _audio_dropped,
    # After the call (issue 14): what it came to, and an operator's corrections of that.
    CallSummarized: lambda e: f"summarized ({e.source}): {e.disposition}",
    SummaryEdited: lambda e: f"{e.actor} changed {e.item}: “{e.old}” → “{e.new}”",
    RecordingSaved: lambda e: f"recording saved ({e.seconds:.0f} s)",
    CallerSpanRedacted: lambda e: f"{e.what} redacted (caller audio muted there)",
    # Approve-before-speak (issue 15): the audit of each gated reply.
    GatedReplyDecided: describe_decision,
    # Warm transfer (issue 15, part 4).
    WarmTransferStarted: lambda e: f"warm transfer: calling {e.target} ({e.reason})",
    WarmTransferHolding: lambda e: "caller on hold (warm transfer)",
    WarmTransferConnected: lambda e: f"warm transfer: {e.target} briefed and joined",
    WarmTransferReturned: lambda e: f"warm transfer to {e.target}: {e.outcome}; back to the agent",
    CallerWentQuiet: lambda e: f"caller quiet for {e.seconds:.0f} s: reprompted",
    # A fleet (issue 17): who holds the call, and an action its worker could not do.
    CallClaimed: lambda e: f"{e.holder} holds the call (console {e.console})",
    ClaimReleased: lambda e: f"{e.holder} let go of the call ({e.why})",
    OperatorActionFailed: lambda e: f"{e.actor} {e.action.replace('_', ' ')} failed: {e.error}",
}
