"""CallControl: the one way an operator (console, CLI, admin endpoint) acts on a live call.

Every action is recorded as an `OperatorActed` event with its actor.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

ACTING_FOR: ContextVar[str] = ContextVar("acting_for", default="")
"""The fleet console's request (console/fleet/actions.py) that the running task acts for; ''
when the operator is in this process. Its OperatorActed names it, so only the console that
asked takes it as its answer: two operators of the same name act on one call at once."""


class CallControl(Protocol):
    def live_calls(self) -> list[str]:
        """Call SIDs of calls in progress."""
        ...

    async def take_over(self, call_sid: str, actor: str) -> None:
        """The agent falls silent; operator audio or typed text reaches the caller."""
        ...

    async def hand_back(self, call_sid: str, actor: str) -> None: ...

    async def mute_agent(self, call_sid: str, muted: bool, actor: str) -> None: ...

    async def pause_listening(self, call_sid: str, paused: bool, actor: str) -> None:
        """Stop (or resume) feeding the caller's words to the agent."""
        ...

    async def say(self, call_sid: str, text: str, actor: str) -> None:
        """Speak `text` to the caller with the call's TTS voice."""
        ...

    async def whisper(self, call_sid: str, guidance: str, actor: str) -> None:
        """Guidance added to the LLM context for the next turn; the caller never hears it."""
        ...

    async def transfer(self, call_sid: str, number: str, actor: str) -> None: ...

    async def warm_transfer(self, call_sid: str, number: str, actor: str,
                            reason: str = "") -> None:
        """Hold the caller, call `number`, brief them (summary, caller, `reason`), then join."""
        ...

    async def hang_up(self, call_sid: str, actor: str) -> None:
        """Hang up once queued audio has played."""
        ...

    async def send_operator_audio(self, call_sid: str, mulaw: bytes) -> None:
        """Operator microphone frames (8 kHz mu-law) while taken over."""
        ...

    # --- approve-before-speak (issue 15, part 2) -------------------------------------------------
    async def gate_replies(self, call_sid: str, on: bool, actor: str) -> None:
        """On: every reply of this call waits, as text, for an operator's decision."""
        ...

    async def decide_reply(self, call_sid: str, decision: str, text: str, actor: str) -> None:
        """The gated reply waiting: "approve" it, "edit" it (`text` is spoken instead) or
        "reject" it (nothing is said; the operator takes the call). Raises if none waits."""
        ...

    async def acknowledge(self, call_sid: str, actor: str, how: str = "") -> None:
        """Record that the operator saw the call's alert ("alert") or opened it ("opened")."""
        ...
