"""Gated replies as the console sees them (issue 15: approve-before-speak): a pure fold of the
gate's events into the call's plain data, so the call view only renders.

A proposal streams in (`ReplyProposed`, the whole text so far each time, with the part already
approved and whether complete pieces wait for approval) until it is complete; the audit event
(`GatedReplyDecided`) clears it, whoever decided (this console, another one, the CLI, the
timeout policy) or whatever withdrew it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.events import CallEvent, GatedReplyDecided, ReplyProposed
from console.tui.call_state import CallState, PendingReply


def _proposed(call: CallState, event: ReplyProposed) -> None:
    pending = call.proposal
    if pending is None:
        pending = call.proposal = PendingReply(event.text, event.reason, event.at)
    pending.text, pending.approved = event.text, event.approved
    pending.pieces_wait = event.approvable
    if event.complete and pending.ready_at is None:
        pending.ready_at = event.at


def _decided(call: CallState, event: GatedReplyDecided) -> None:
    call.proposal = None


GATE_HANDLERS: dict[type[CallEvent], Callable[[CallState, Any], None]] = {
    ReplyProposed: _proposed,
    GatedReplyDecided: _decided,
}
# OperatorActed.action words (console.calls.live) for the call's gate.
GATE_FLAGS = {"gate-on": ("gated", True), "gate-off": ("gated", False)}


def describe_decision(event: GatedReplyDecided) -> str:
    """The timeline's line for the audit: who decided what, and how long it took."""
    waited = f"{event.decide_ms / 1000:.1f} s"
    if event.decision == "withdrawn":
        return f"gated reply withdrawn unheard: “{event.proposed}”"
    if event.decision == "edited":
        return f"{event.actor} edited the gated reply after {waited}: “{event.spoken}”"
    return f"{event.actor} {event.decision} the gated reply after {waited}: “{event.proposed}”"
