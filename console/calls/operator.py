"""What an operator can do to a live call, as session primitives (LiveCalls records who did it)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from console import events as ev
from console.providers.base import ChatMessage

if TYPE_CHECKING:
    from console.calls.session import CallSession


class OperatorActions:
    """Mixed into CallSession; kept apart so the conversation logic stays readable."""

    async def take_over(self: CallSession) -> None:
        """The agent falls silent now; caller words keep being transcribed and stored."""
        self.operator_mode = True
        self._cancel_idle()
        if self._agent_audible():
            await self.interrupt("operator")
        self._set_state("operator")

    def hand_back(self: CallSession) -> None:
        self.operator_mode = False
        self._set_state("listening")

    async def mute_agent(self: CallSession, muted: bool) -> None:
        self.agent_muted = muted
        if muted and self._agent_audible():
            await self.interrupt("operator")

    async def say_as_operator(self: CallSession, text: str) -> None:
        """Typed text spoken to the caller in the call's voice; stored as an operator turn."""
        started = time.time()
        await self.speak_line(text)
        self._publish(ev.TurnCompleted, role="operator", text=text, started=started,
                      ended=time.time())

    def whisper(self: CallSession, guidance: str) -> None:
        """Guidance for the next LLM turn; never spoken."""
        self.history.append(ChatMessage("system", f"Operator guidance: {guidance}"))

    def resolve_transfer_target(self: CallSession, number: str) -> str:
        """A profile target name ("default", "billing") or a literal number."""
        targets = self.profile.transfer_targets
        return targets.get(number, number)

    async def transfer(self: CallSession, number: str, announce: str | None = None) -> None:
        """Cold transfer through Twilio REST. Raises when there is no REST or it fails, so the
        operator sees the failure; the call keeps its agent meanwhile."""
        if self.deps.actions is None:
            raise RuntimeError("transfer needs Twilio credentials (TWILIO_ACCOUNT_SID/AUTH_TOKEN)")
        previous = self.state
        self._set_state("transferring")
        if self._agent_audible():
            await self.interrupt("operator")
        try:
            await self.deps.actions.transfer(self.sid, number, announce=announce)
        except Exception as error:
            # The agent keeps the call; the audit log must not read as if it had moved.
            self._publish(ev.TransferAttempted, target=number, attempt=1, ok=False,
                          detail=str(error))
            self._set_state(previous)
            raise
        self._publish(ev.TransferAttempted, target=number, attempt=1, ok=True)

    async def hang_up_after_playout(self: CallSession) -> None:
        self._cancel_idle()
        await self._wait_until_played()
        await self.end_call("operator-hang-up")

    def play_operator_audio(self: CallSession, mulaw: bytes) -> None:
        """Operator microphone frames go straight to the pacer while the call is taken over."""
        if self.operator_mode:
            self.pacer.enqueue_audio(mulaw)
