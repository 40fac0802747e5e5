"""What another worker needs to go on with a call whose worker died (issue 17, failover): the
JSON at keys.conversation(sid).

The owning worker's publisher keeps one `CarriedConversation` per call, folded from the call's
events in order (as snapshot.py folds the board's hash), and writes it in the same MULTI as the
events that changed it: what Redis holds is never ahead of, nor far behind, the event stream.
It is deleted when the call really ends (CallEnded); a worker killed mid-call publishes no end,
so the conversation outlives it, with a TTL in case nobody ever asks for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from console import events as ev

RECOVERY_LINE = "Sorry, I lost you for a second — you were saying?"
"""What a caller hears first from the worker that took over their call (prepared at start-up)."""
CARRIED_TTL_S = 3600  # a call nobody resumed within the hour is not coming back
MAX_TURNS = 200  # the LLM sees a trimmed history anyway; this bounds the key, not the call


@dataclass
class CarriedConversation:
    """One call's conversation as the next worker needs it. `turns` are (role, text) with the
    roles of TurnCompleted (caller, agent, operator); `in_progress` is what the caller said
    since their last completed turn (final words only: interim ones would cost a write each)."""

    call_sid: str
    profile: str = ""
    caller: str = ""
    called: str = ""
    turns: list[tuple[str, str]] = field(default_factory=list)
    in_progress: str = ""
    emergency: str = ""  # the phrase that raised it; "" when there is none
    transfer_target: str = ""  # the last number a transfer was attempted to
    transfer_attempts: int = 0

    @classmethod
    def started(cls, event: ev.CallStarted) -> CarriedConversation:
        return cls(event.call_sid, profile=event.profile, caller=event.from_number,
                   called=event.to_number)

    def apply(self, event: ev.CallEvent) -> bool:
        """Take in one of the call's events; whether the carried state changed."""
        update = _UPDATES.get(type(event))
        return update is not None and update(self, event) is not False

    @property
    def escalating(self) -> bool:
        return bool(self.emergency)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> CarriedConversation:
        data = json.loads(text)
        data["turns"] = [(str(role), str(said)) for role, said in data.get("turns", [])]
        return cls(**data)


def _restarted(carried: CarriedConversation, event: ev.CallStarted) -> bool:
    """A call resumed on this worker starts again: its numbers may be new, its past is kept."""
    carried.caller = event.from_number or carried.caller
    carried.called = event.to_number or carried.called
    carried.profile = event.profile or carried.profile
    return True


def _turn(carried: CarriedConversation, event: ev.TurnCompleted) -> bool:
    carried.turns.append((event.role, event.text))
    del carried.turns[:-MAX_TURNS]
    if event.role == "caller":
        carried.in_progress = ""
    return True


def _heard(carried: CarriedConversation, event: ev.CallerTranscribed) -> bool:
    if not event.final:
        return False
    carried.in_progress = f"{carried.in_progress} {event.text}".strip()
    return True


def _emergency(carried: CarriedConversation, event: ev.EmergencyDetected) -> bool:
    carried.emergency = event.phrase or event.text or "emergency"
    return True


def _transfer(carried: CarriedConversation, event: ev.TransferAttempted) -> bool:
    carried.transfer_target, carried.transfer_attempts = event.target, event.attempt
    return True


# Each takes its own event type: typed per function, so Any here (as snapshot.py's).
_UPDATES: dict[type, Callable[[CarriedConversation, Any], bool]] = {
    ev.CallStarted: _restarted, ev.TurnCompleted: _turn, ev.CallerTranscribed: _heard,
    ev.EmergencyDetected: _emergency, ev.TransferAttempted: _transfer,
}


class ConversationSource(Protocol):
    """Where the runtime gets the conversation of a call it resumes (failover.Failover)."""

    async def take_over(self, call_sid: str) -> CarriedConversation | None:
        """The call's carried conversation, now this worker's; None if it is gone."""
        ...
