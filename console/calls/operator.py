"""What an operator can do to a live call (LiveCalls records who did it).

Each action is a move of the call's mode plus what the voice must do about it: taking over
silences the agent and ends any escalation for good; handing back returns the call to listening,
so the agent answers the next caller turn.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from console import events as ev
from console.calls.conversation import Conversation
from console.calls.ports import CallEvents, CallServices, HeldCall
from console.calls.state import CallMode, CallState
from console.calls.triage import Triage
from console.calls.voice import Voice
from console.profiles import Profile

HANG_UP_REST_S = 1.0


class OperatorHost(HeldCall, Protocol):
    sid: str
    call_state: CallState
    events: CallEvents
    voice: Voice
    conversation: Conversation
    triage: Triage
    park_on_stop: bool
    profile: Profile

    @property
    def deps(self) -> CallServices: ...

    async def interrupt(self, cause: str) -> None: ...

    async def speak_line(self, text: str, *, role: str = "agent") -> bool: ...

    async def end_call(self, reason: str) -> None: ...


class OperatorDesk:
    def __init__(self, host: OperatorHost) -> None:
        self._host = host

    async def take_over(self) -> None:
        """The agent falls silent now; caller words keep being transcribed and stored."""
        if not self._host.call_state.try_transition(CallMode.OPERATOR):
            return  # the call is ending: nothing left to take
        self._host.triage.handed_over()
        await self._host.interrupt("operator")

    def hand_back(self) -> None:
        """The agent has the call again, listening: an escalation before the take-over is over."""
        self._host.triage.handed_over()
        self._host.call_state.try_transition(CallMode.LISTENING)

    async def mute_agent(self, muted: bool) -> None:
        self._host.call_state.muted = muted
        if muted:
            await self._host.interrupt("operator")

    def pause_listening(self, paused: bool) -> None:
        """"Mute caller": the agent stops listening to the caller until unmuted. Their sound
        no longer pauses the agent and their words neither cut it nor are answered (no
        barge-in: the operator muted them so a line is heard whole over a noisy or talking
        caller, and a barge-in whose words the agent may not answer would leave it cut off
        with nothing to say). A reply already paused for them resumes once they are quiet.
        Everything else goes on: their audio is recorded, transcribed, shown and stored, and
        triage still hears an emergency in it (safety outranks the mute)."""
        self._host.call_state.listening_paused = paused

    async def say(self, text: str) -> None:
        """Typed text spoken to the caller in the call's voice; stored as an operator turn."""
        await self._host.speak_line(text, role="operator")

    def whisper(self, guidance: str) -> None:
        """Guidance for the next LLM turn; never spoken."""
        self._host.conversation.guidance(guidance)

    def resolve_transfer_target(self, number: str) -> str:
        """A profile target name ("default", "billing") or a literal number."""
        return self._host.profile.transfer_targets.get(number, number)

    async def transfer(self, number: str, announce: str | None = None) -> None:
        """Cold transfer through Twilio REST. Raises when there is no REST or it fails, so the
        operator sees the failure; the call keeps its agent (or operator) meanwhile."""
        host = self._host
        if host.deps.actions is None:
            raise RuntimeError("transfer needs Twilio credentials (TWILIO_ACCOUNT_SID/AUTH_TOKEN)")
        await host.interrupt("operator")
        try:
            # Until Twilio has the call, whoever had it keeps it: a caller who speaks meanwhile
            # (a hung REST request takes 3 s) is answered, not left in silence.
            await host.deps.actions.transfer(host.sid, number, announce=announce)
        except Exception as error:
            # The audit log must not read as if the call had moved.
            host.events(ev.TransferAttempted, target=number, attempt=1, ok=False,
                        detail=str(error))
            raise
        host.events(ev.TransferAttempted, target=number, attempt=1, ok=True)
        host.call_state.try_transition(CallMode.TRANSFERRING)

    async def warm_transfer(self, targets: tuple[str, ...], reason: str) -> None:
        """Issue 15: the caller holds in a conference while `targets` are called in turn; the one
        who answers is briefed first. Raises when it cannot start (no Twilio, or Twilio refused
        the move): the call then keeps its agent (or operator), as with a cold transfer."""
        host = self._host
        if host.deps.warm is None:
            raise RuntimeError("warm transfer needs Twilio credentials and a public URL")
        previous = host.call_state.mode
        await host.interrupt("operator")
        # Before Twilio moves the caller: the stream's `stop` follows the move at once.
        host.call_state.try_transition(CallMode.TRANSFERRING)
        host.park_on_stop = True
        try:
            await host.deps.warm.start(host, targets, reason)
        except Exception:
            host.park_on_stop = False
            host.call_state.try_transition(
                CallMode.OPERATOR if previous is CallMode.OPERATOR else CallMode.LISTENING)
            raise

    async def hang_up_after_playout(self) -> None:
        voice = self._host.voice
        self._host.call_state.try_transition(CallMode.ENDING)
        if voice.reply is not None:
            await voice.until_played(voice.reply)
        await voice.until_quiet()
        await self._host.end_call("operator-hang-up")

    async def hang_up_through_twilio(self) -> None:
        """Bounded: closing the media socket ends a <Connect><Stream> call anyway, so a hung
        Twilio may hold the (already silent) line open 1 s at most."""
        host = self._host
        if host.deps.actions is None:
            return
        try:
            await asyncio.wait_for(host.deps.actions.hang_up(host.sid), HANG_UP_REST_S)
        except Exception as error:  # noqa: BLE001 - any REST failure: close the socket instead
            host.events.degraded("twilio", f"hang-up failed: {error!r}", "closed media socket")

    def play_operator_audio(self, mulaw: bytes) -> None:
        """Operator microphone frames go straight to the pacer while the call is taken over."""
        if self._host.call_state.mode is CallMode.OPERATOR:
            self._host.voice.pacer.enqueue_audio(mulaw)
