"""The console's picture of the calls: a pure fold of bus events into plain data.

No Textual here, so the rules (who is talking, what replaces an interim, how an interrupted turn
reads) are unit-testable and the widgets only render. Folding one event is a few dict and list
operations, cheap enough to run inside the bus callback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from console.events import (
    AgentInterrupted,
    AgentResumed,
    AgentSpoke,
    AlertRaised,
    CallClaimed,
    CallEnded,
    CallerTranscribed,
    CallEvent,
    CallHosted,
    CallStarted,
    ClaimReleased,
    DrillCallStarted,
    EmergencyDetected,
    OperatorActed,
    StateChanged,
    TransferAttempted,
    TransferFinished,
    TurnCompleted,
    TurnMeasured,
)
from console.safe_text import printable
from console.tui.call_state import (
    V2V_KEYS,
    Alert,
    CallState,
    TimelineEntry,
    TranscriptLine,
)
from console.tui.describe import describe
from console.tui.gated import GATE_FLAGS, GATE_HANDLERS
from console.tui.ranking import Health, LineWatch, RiskSetup, ranked


class CallBoard:
    """Every call the console has heard of, live or recently ended."""

    def __init__(self, risk: RiskSetup | None = None) -> None:
        self._calls: dict[str, CallState] = {}
        self.risk = risk or RiskSetup()
        self.line = LineWatch()

    def apply(self, event: CallEvent) -> CallState:
        call = self._call_for(event)
        event = printable_event(event)
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(call, event)
        if isinstance(event, CallStarted):
            call.risk.use_profile(self.risk.profile_cues(event.profile))
        call.risk.observe(event)
        self.line.observe(event)
        summary = describe(event)
        if summary is not None:
            call.timeline.append(TimelineEntry(event.at, event.kind, summary))
        return call

    def get(self, call_sid: str) -> CallState | None:
        return self._calls.get(call_sid)

    def calls(self) -> list[CallState]:
        return list(self._calls.values())

    def ranked(self) -> list[CallState]:
        """Live calls, riskiest first, then the recently ended (console/tui/ranking.py)."""
        return ranked(self._calls.values())

    def health(self, now: float) -> Health:
        live = sum(call.live for call in self._calls.values())
        return self.line.health(now, live, len(self.pending_alerts()))

    def pending_alerts(self) -> list[CallState]:
        return [c for c in self._calls.values() if c.alert and not c.alert.acknowledged]

    def acknowledge(self, call_sid: str) -> None:
        call = self._calls.get(call_sid)
        if call is not None and call.alert is not None:
            call.alert.acknowledged = True

    def prune(self, now: float, keep_ended_for: float) -> list[str]:
        """Forget calls that ended long enough ago (their record is in storage)."""
        gone = [
            sid
            for sid, call in self._calls.items()
            if call.ended_at is not None
            and now - call.ended_at > keep_ended_for
            and not (call.alert and not call.alert.acknowledged)
        ]
        for sid in gone:
            del self._calls[sid]
        return gone

    def _call_for(self, event: CallEvent) -> CallState:
        call = self._calls.get(event.call_sid)
        if call is None:
            # Events can precede CallStarted for us (the console attached mid-call).
            call = CallState(event.call_sid, started_at=event.at, risk=self.risk.tracker())
            self._calls[event.call_sid] = call
        return call


def printable_event(event: CallEvent) -> CallEvent:
    """The event with every text in it printable (console.safe_text): a caller's number, a
    custom parameter or a transcript may hold terminal escapes. `call_sid` is left as it is: it
    is the key the console acts on, never shown from here."""
    changes: dict[str, Any] = {}
    for each in dataclasses.fields(event):
        name, value = each.name, getattr(event, each.name)
        if isinstance(value, str) and name != "call_sid":
            cleaned: Any = printable(value)
        elif isinstance(value, dict):  # TurnMeasured.stages: the keys become labels
            cleaned = {printable(key): item for key, item in value.items()}
        else:
            continue
        if cleaned != value:
            changes[name] = cleaned
    return dataclasses.replace(event, **changes) if changes else event


def _started(call: CallState, event: CallStarted) -> None:
    call.caller = event.from_number or "unknown"
    call.callee = event.to_number
    call.profile = event.profile
    call.started_at = event.at


def _ended(call: CallState, event: CallEnded) -> None:
    call.ended_at = event.at
    call.end_reason = event.reason
    call.state = "ended"
    call.talking = ""


def _state(call: CallState, event: StateChanged) -> None:
    call.state = event.state
    if event.state == "operator":
        call.taken_over = True
    elif event.state in ("greeting", "listening", "thinking", "speaking", "paused"):
        call.taken_over = False
    call.talking = {"speaking": "agent", "operator": "operator",
                    "paused": "caller"}.get(event.state, "")
    if event.state == "listening" and call.interim:
        call.talking = "caller"
    if call.agent_live is not None:
        call.agent_live.paused = event.state == "paused"


def _resumed(call: CallState, event: AgentResumed) -> None:
    if call.agent_live is not None:
        call.agent_live.paused = False
        call.agent_live.resumes += 1
    call.talking = "agent"


def _transcribed(call: CallState, event: CallerTranscribed) -> None:
    if event.final:
        if event.text:
            call.caller_finals.append(event.text)
        call.interim = ""
        return
    call.interim = event.text
    if event.text:
        call.talking = "caller"


def _turn(call: CallState, event: TurnCompleted) -> None:
    if event.role == "agent":
        _agent_turn(call, event)
        return
    if event.role == "caller":
        text = event.text or " ".join(call.caller_finals)
        call.caller_finals.clear()
        call.interim = ""
    else:
        text = event.text
    if text:
        call.commit(TranscriptLine(event.role, text))
    if call.talking == event.role:
        call.talking = ""


def _agent_turn(call: CallState, event: TurnCompleted) -> None:
    live = call.agent_live
    call.agent_live = None
    if event.interrupted or (live is not None and live.interrupted):
        said = live.text if live is not None and live.text else event.text
        cause = live.cause if live is not None else ""
        call.commit(TranscriptLine("agent", said, heard=event.text, cause=cause))
    elif event.text or live is not None:
        resumes = live.resumes if live is not None else 0
        call.commit(TranscriptLine("agent", event.text or (live.text if live else ""),
                                   resumes=resumes))
    if call.talking == "agent":
        call.talking = ""


def _spoke(call: CallState, event: AgentSpoke) -> None:
    live = call.agent_live
    if live is not None and live.interrupted:
        call.commit(live)  # its TurnCompleted never came; do not glue new speech onto it
        live = None
    if live is None:
        live = call.agent_live = TranscriptLine("agent", "")
    live.text = f"{live.text} {event.text}".strip()
    call.talking = "agent"


def _interrupted(call: CallState, event: AgentInterrupted) -> None:
    if call.agent_live is not None:
        call.agent_live.heard = event.heard
        call.agent_live.cause = event.cause
    call.talking = {"operator": "operator", "emergency": ""}.get(event.cause, "caller")


def _measured(call: CallState, event: TurnMeasured) -> None:
    call.turn = event.turn
    call.stages = dict(event.stages)
    value = next((event.stages[k] for k in V2V_KEYS if k in event.stages), None)
    if value is not None:
        call.v2v.append(float(value))


def _emergency(call: CallState, event: EmergencyDetected) -> None:
    previous = call.alert.progress if call.alert else []
    call.alert = Alert(event.phrase, event.source, event.text, event.at, list(previous))


def _alert_raised(call: CallState, event: AlertRaised) -> None:
    """A critical alert comes up on the screen as an emergency does; on a call already alerted
    it is one more line under that alert (the operator sees one alert per call)."""
    if event.level != "critical":
        return  # a warning is a line on the call's timeline (describe.py), not a modal
    if call.alert is not None and not call.alert.acknowledged:
        call.alert.progress.append(event.message)
        return
    call.alert = Alert("", "system", event.message, event.at)


def _transfer_attempted(call: CallState, event: TransferAttempted) -> None:
    _progress(call, describe(event) or "")


def _transfer_finished(call: CallState, event: TransferFinished) -> None:
    _progress(call, describe(event) or "")


# OperatorActed.action words (console.calls.live) that flip what the console shows; any operator
# (this console, `voiceconsole control`, the admin endpoint) may have acted.
_OPERATOR_FLAGS = {
    "take-over": ("taken_over", True),
    "hand-back": ("taken_over", False),
    "mute": ("agent_muted", True),
    "unmute": ("agent_muted", False),
    **GATE_FLAGS,
    "pause-listening": ("caller_muted", True),
    "resume-listening": ("caller_muted", False),
}


def _operator(call: CallState, event: OperatorActed) -> None:
    flag = _OPERATOR_FLAGS.get(event.action.replace("_", "-"))
    if flag is not None:
        setattr(call, *flag)
    if event.action == "whisper" and event.detail:  # issue 15: shown, marked, in its place
        call.commit(TranscriptLine("whisper", event.detail))


def _released(call: CallState, event: ClaimReleased) -> None:
    if call.holder == event.holder:  # not a later holder's claim, announced in between
        call.holder = ""


def _progress(call: CallState, line: str) -> None:
    call.transfer = line
    if call.alert is not None:
        call.alert.progress.append(line)


_HANDLERS: dict[type[CallEvent], Callable[[CallState, Any], None]] = {
    CallStarted: _started,
    CallEnded: _ended,
    StateChanged: _state,
    CallerTranscribed: _transcribed,
    TurnCompleted: _turn,
    AgentSpoke: _spoke,
    AgentInterrupted: _interrupted,
    AgentResumed: _resumed,
    TurnMeasured: _measured,
    EmergencyDetected: _emergency,
    AlertRaised: _alert_raised,
    TransferAttempted: _transfer_attempted,
    TransferFinished: _transfer_finished,
    OperatorActed: _operator,
    **GATE_HANDLERS,
    DrillCallStarted: lambda call, event: setattr(call, "drill", event.scenario or event.drill),
    # A fleet (issue 17): which worker has the call, and who holds it.
    CallHosted: lambda call, event: setattr(call, "worker", event.worker),
    CallClaimed: lambda call, event: setattr(call, "holder", event.holder),
    ClaimReleased: _released,
}
