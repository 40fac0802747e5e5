"""A live call as a console joining the fleet first draws it: the small hash at keys.call(sid).

A worker's publisher keeps one `LiveCall` per call it runs, updated from the call's events in
order, and writes the whole hash whenever it changed (a few hundred bytes: rewriting it is simpler
than patching it, and makes a rewrite after a Redis restart the same operation). All values are
strings; `transcript` and `latency` are JSON.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console import events as ev

TRANSCRIPT_LINES = 6  # enough for an operator to pick up the thread; the rest is in history


@dataclass
class LiveCall:
    worker: str
    started: ev.CallStarted
    state: str = "greeting"
    transcript: deque[tuple[str, str]] = field(
        default_factory=lambda: deque(maxlen=TRANSCRIPT_LINES))
    latency: dict[str, float] = field(default_factory=dict)
    turn: int = 0
    emergency: bool = False
    alert: str = ""
    drill: str = ""
    updated: float = 0.0
    incarnation: str = ""  # the worker's process: a restarted worker keeps its name, not this

    def apply(self, event: ev.CallEvent) -> bool:
        """Take in one of the call's events; whether the snapshot changed."""
        update = _UPDATES.get(type(event))
        if update is None:
            return False
        update(self, event)
        self.updated = event.at
        return True

    def fields(self) -> dict[str, str]:
        start = self.started
        return {
            "call_sid": start.call_sid, "worker": self.worker, "profile": start.profile,
            "stream_sid": start.stream_sid, "from_number": start.from_number,
            "to_number": start.to_number, "started_at": repr(start.at), "state": self.state,
            "updated": repr(self.updated),
            "transcript": json.dumps([{"role": r, "text": t} for r, t in self.transcript],
                                     ensure_ascii=False),
            "latency": json.dumps({"turn": self.turn, "stages": self.latency}),
            "emergency": "1" if self.emergency else "0", "alert": self.alert,
            "drill": self.drill, "incarnation": self.incarnation,
        }


def _state(call: LiveCall, event: ev.StateChanged) -> None:
    call.state = event.state


def _turn(call: LiveCall, event: ev.TurnCompleted) -> None:
    call.transcript.append((event.role, event.text))


def _measured(call: LiveCall, event: ev.TurnMeasured) -> None:
    call.turn, call.latency = event.turn, dict(event.stages)


def _emergency(call: LiveCall, event: ev.EmergencyDetected) -> None:
    call.emergency = True


def _alert(call: LiveCall, event: ev.AlertRaised) -> None:
    call.alert = event.message


def _drill(call: LiveCall, event: ev.DrillCallStarted) -> None:
    call.drill = event.drill


# Each takes its own event type: typed per function, so Any here (as storage/db.py's row writers).
_UPDATES: dict[type, Callable[[LiveCall, Any], None]] = {
    ev.StateChanged: _state, ev.TurnCompleted: _turn, ev.TurnMeasured: _measured,
    ev.EmergencyDetected: _emergency, ev.AlertRaised: _alert, ev.DrillCallStarted: _drill,
}
