"""LiveCalls: the CallControl behind the console, the CLI and the admin endpoint.

It keeps the sessions of calls in progress and turns each operator action into session
primitives, recording every action as an `OperatorActed` event with its actor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from console import events as ev
from console.audio_ring import CallRing
from console.calls.control import ACTING_FOR
from console.calls.session import CallSession
from console.events import EventBus

log = logging.getLogger(__name__)


class UnknownCall(LookupError):
    pass


class LiveCalls:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._sessions: dict[str, CallSession] = {}
        self._rings: dict[str, CallRing] = {}  # issue 15: each live call's last 15 s
        bus.subscribe(self._forget_ended)

    def add(self, session: CallSession) -> None:
        self._sessions[session.sid] = session
        ring = self._rings[session.sid] = CallRing()
        session.add_tap(ring.add)

    def get(self, call_sid: str) -> CallSession:
        try:
            return self._sessions[call_sid]
        except KeyError:
            raise UnknownCall(f"no live call {call_sid}") from None

    def sessions(self) -> list[CallSession]:
        return list(self._sessions.values())

    def _forget_ended(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.CallEnded):
            self._sessions.pop(event.call_sid, None)
            self._rings.pop(event.call_sid, None)

    def _record(self, call_sid: str, action: str, actor: str, detail: str = "") -> None:
        self.bus.publish(ev.OperatorActed(call_sid, action=action, actor=actor, detail=detail,
                                          request=ACTING_FOR.get()))

    def tap(self, call_sid: str, sink: Callable[[str, bytes], None]) -> Callable[[], None]:
        """Listen-in source: `sink(leg, mulaw)` for both legs of one call; returns untap."""
        return self.get(call_sid).add_tap(sink)

    def recent(self, call_sid: str) -> CallRing:
        """Catch-up source: a copy of the call's last 15 s, both legs. Tap the call in the same
        loop step (no await between) and the copy continues with exactly the next frame."""
        self.get(call_sid)  # UnknownCall for a call that is not live
        return self._rings[call_sid].copy()

    # --- CallControl ---------------------------------------------------------------------------
    def live_calls(self) -> list[str]:
        return list(self._sessions)

    async def take_over(self, call_sid: str, actor: str) -> None:
        session = self.get(call_sid)
        self._record(call_sid, "take-over", actor)
        await session.operator.take_over()

    async def hand_back(self, call_sid: str, actor: str) -> None:
        session = self.get(call_sid)
        self._record(call_sid, "hand-back", actor)
        session.operator.hand_back()

    async def mute_agent(self, call_sid: str, muted: bool, actor: str) -> None:
        session = self.get(call_sid)
        self._record(call_sid, "mute" if muted else "unmute", actor)
        await session.operator.mute_agent(muted)

    async def pause_listening(self, call_sid: str, paused: bool, actor: str) -> None:
        session = self.get(call_sid)
        self._record(call_sid, "pause-listening" if paused else "resume-listening", actor)
        session.operator.pause_listening(paused)

    async def say(self, call_sid: str, text: str, actor: str) -> None:
        session = self.get(call_sid)
        self._record(call_sid, "say", actor, text)
        await session.operator.say(text)

    async def whisper(self, call_sid: str, guidance: str, actor: str) -> None:
        session = self.get(call_sid)
        self._record(call_sid, "whisper", actor, guidance)
        session.operator.whisper(guidance)

    async def transfer(self, call_sid: str, number: str, actor: str) -> None:
        session = self.get(call_sid)
        target = session.operator.resolve_transfer_target(number)
        self._record(call_sid, "transfer", actor, target)
        await session.operator.transfer(target)

    async def warm_transfer(self, call_sid: str, number: str, actor: str,
                            reason: str = "") -> None:
        """Issue 15: the caller holds while `number` (a profile target name or a number) is
        called and briefed; back to the agent if nobody takes the call."""
        session = self.get(call_sid)
        target = session.operator.resolve_transfer_target(number)
        self._record(call_sid, "warm-transfer", actor, target)
        await session.operator.warm_transfer((target,), reason or f"{actor} asked for a person")

    async def hang_up(self, call_sid: str, actor: str) -> None:
        session = self.get(call_sid)
        self._record(call_sid, "hang-up", actor)
        await session.operator.hang_up_after_playout()

    async def send_operator_audio(self, call_sid: str, mulaw: bytes) -> None:
        self.get(call_sid).operator.play_operator_audio(mulaw)

    # --- approve-before-speak (issue 15, part 2) -------------------------------------------------
    async def gate_replies(self, call_sid: str, on: bool, actor: str) -> None:
        session = self.get(call_sid)
        self._record(call_sid, "gate-on" if on else "gate-off", actor)
        session.gate.on = on

    async def decide_reply(self, call_sid: str, decision: str, text: str, actor: str) -> None:
        session = self.get(call_sid)
        session.gate.decide(decision, actor, text)  # raises when no reply waits: nothing done
        self._record(call_sid, f"reply-{decision}", actor, text)
        if decision == "reject":
            self._record(call_sid, "take-over", actor)
            await session.operator.take_over()

    async def acknowledge(self, call_sid: str, actor: str, how: str = "") -> None:
        """Issue 15 (drills): the operator saw the call's alert (`how`: "alert", the alert
        screen's key; "opened", the call view). Only recorded: it is what a drill's
        time-to-acknowledge is measured to."""
        self.get(call_sid)
        self._record(call_sid, "acknowledge", actor, how)
