"""What the silence watchers (dead air, the idle ladder) may ask of the agent and have it do:
is it the agent's call, is it talking or preparing a reply, when did it go quiet; play a
holding phrase, say a reprompt or the goodbye."""

from __future__ import annotations

from typing import Protocol

from console import events as ev
from console.calls import lines
from console.calls.gate import ReplyGate
from console.calls.ports import CallEvents, CallServices
from console.calls.state import CallState
from console.calls.voice import Voice
from console.profiles import Profile


class PresenceHost(Protocol):
    call_state: CallState
    voice: Voice
    gate: ReplyGate
    events: CallEvents
    profile: Profile

    @property
    def deps(self) -> CallServices: ...

    async def speak_line(self, text: str, *, role: str = "agent") -> bool: ...

    async def end_call(self, reason: str) -> None: ...


class AgentPresence:
    """The agent as the silence watchers see it (DeadAirHost and IdleHost)."""

    def __init__(self, host: PresenceHost) -> None:
        self._host = host
        self._voice = host.voice

    def agent_has_call(self) -> bool:
        """The agent answers this call (no person, no transfer, not silenced)."""
        return self._host.call_state.agent_may_answer

    def agent_busy(self) -> bool:
        return self._voice.in_flight() or self._voice.audible()

    def agent_quiet_since(self) -> float:
        return self._voice.pacer.playout_end

    def reply_being_prepared(self) -> bool:
        # A gated reply waiting for the operator has holding lines of its own (gate.py).
        return self._voice.preparing() and not self._host.gate.holding()

    def play_filler(self, text: str) -> None:
        """A holding phrase, from prepared audio only: it must never wait on a slow TTS."""
        host = self._host
        if (audio := lines.prepared(host, text)) is None:
            return
        self._voice.play_filler(audio)
        host.events(ev.AgentSpoke, text=text)
        host.events.degraded("pipeline", "the caller waited in silence", f"holding phrase: {text}")

    async def idle_line(self, text: str, *, hang_up: bool = False, quiet_s: float = 0.0) -> bool:
        """The idle ladder's reprompt or goodbye; the goodbye ends the call once played. A
        reprompt is also a fact for the operator's risk board: the caller went quiet."""
        if not hang_up:
            self._host.events(ev.CallerWentQuiet, seconds=round(quiet_s, 1))
        played = await self._host.speak_line(text)
        if played and hang_up:
            await self._host.end_call("idle")
        return played
