"""Emergency triage: notice trigger words from either side, and get the caller to a person.

Two detectors. The agent's token stream is scanned as it arrives, with a rolling tail so a phrase
split across tokens still matches, and the reply stops before the sentence holding it is spoken.
The caller's interim and final transcripts are matched too. On a hit the escalation cuts playback,
redirects the call to a human with retries, and, if Twilio cannot be reached, raises the operator
alert to critical and keeps the caller company until someone acts. Never silence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from console import events as ev
from console.calls.ports import CallActions, CallEvents
from console.calls.state import CallMode, CallState
from console.calls.tasks import TaskOwner
from console.calls.vad import VoiceActivity

log = logging.getLogger(__name__)

# Three attempts within about 2 s: Twilio REST blips are short, the caller's patience is shorter.
RETRY_DELAYS_S = (0.2, 0.6)
# Twilio answers a redirect in well under a second; one that hangs longer is abandoned (it may
# still land: a second redirect to the same <Dial> is harmless) so the retries stay prompt.
ATTEMPT_TIMEOUT_S = 1.5
# While no transfer works: say the keep-company line, then try Twilio again, about this often.
KEEP_COMPANY_EVERY_S = 6.0
KEEP_COMPANY_LINE = "Please stay on the line. I am connecting you to a person right now."
ANNOUNCE_LINE = "Connecting you to a person now."
# Dial outcomes after which the next emergency number is tried.
UNANSWERED = {"no-answer", "busy", "failed", "canceled"}


@dataclass(frozen=True)
class TriageMatch:
    source: str  # "agent" | "caller"
    phrase: str
    text: str


class AgentScanner:
    """Finds a trigger in streamed text even when tokens split it ("EMERG" + "ENCY_DETECTED")."""

    def __init__(self, match: Callable[[str], str | None], tail_chars: int = 160) -> None:
        self._match = match
        self._tail_chars = tail_chars
        self._tail = ""

    def feed(self, token: str) -> str | None:
        self._tail = (self._tail + token)[-self._tail_chars :]
        return self._match(self._tail)

    def reset(self) -> None:
        self._tail = ""


class EscalationHost(Protocol):
    """What an escalation needs of its call."""

    sid: str
    call_state: CallState
    events: CallEvents
    tasks: TaskOwner
    deps: Any  # .actions: CallActions | None
    profile: Any  # .match_agent_trigger, .match_caller_emergency

    async def interrupt(self, cause: str) -> None: ...

    async def speak_line(self, text: str, *, role: str = "agent") -> bool: ...

    def caller_voice(self) -> VoiceActivity: ...


class Escalation:
    def __init__(self, host: EscalationHost, numbers: tuple[str, ...]) -> None:
        self.host = host
        self.numbers = [n for n in numbers if n]
        self._next = 0
        self._alerted = False
        self.stopped = False
        self.connected_to: str | None = None

    async def run(self, match: TriageMatch) -> None:
        host = self.host
        host.events(ev.EmergencyDetected, source=match.source, phrase=match.phrase,
                    text=match.text)
        if host.call_state.mode in (CallMode.OPERATOR, CallMode.ENDING, CallMode.ENDED):
            return  # a person already has the call (the alert shows them), or it is over
        await host.interrupt("emergency")
        if not host.call_state.try_transition(CallMode.TRANSFERRING):
            return  # an operator already has the call, or it is ending
        # The caller hears at once that a person is coming, while Twilio is asked to dial.
        host.tasks.spawn("emergency-company", self._keep_company())
        while not self._over():
            if await self.transfer_to_next():
                return
            await asyncio.sleep(KEEP_COMPANY_EVERY_S)
            self._next = 0  # every number failed: start over, the operator is already alerted

    def stop(self) -> None:
        """A person took the call: no more transfer attempts or company lines."""
        self.stopped = True

    def _over(self) -> bool:
        return self.stopped or self.host.call_state.mode is not CallMode.TRANSFERRING

    async def transfer_to_next(self) -> bool:
        """Dial the next emergency number, with retries. True once Twilio accepted a redirect."""
        while self._next < len(self.numbers):
            number = self.numbers[self._next]
            self._next += 1
            if await self._transfer_with_retries(number):
                self.connected_to = number
                return True
            self._raise_critical()
        if not self.numbers:
            self._raise_critical()
        return False

    async def _transfer_with_retries(self, number: str) -> bool:
        actions: CallActions | None = self.host.deps.actions
        if actions is None:
            self._attempted(number, 1, False, "no Twilio credentials: cannot redirect the call")
            return False
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_S), start=1):
            await asyncio.sleep(delay)
            if self.stopped:
                return False  # a person has the call now: no redirect behind their back
            try:
                await asyncio.wait_for(
                    actions.transfer(self.host.sid, number, announce=ANNOUNCE_LINE),
                    ATTEMPT_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 - every failure is recorded and retried
                self._attempted(number, attempt, False, str(error) or type(error).__name__)
                continue
            self._attempted(number, attempt, True)
            return True
        return False

    def _attempted(self, number: str, attempt: int, ok: bool, detail: str = "") -> None:
        self.host.events(ev.TransferAttempted, target=number, attempt=attempt, ok=ok,
                         detail=detail)

    def _raise_critical(self) -> None:
        """Once every attempt at a number failed, the operator must act: highest alert, once."""
        if self._alerted:
            return
        self._alerted = True
        self.host.events(ev.AlertRaised, level="critical",
                         message="Emergency transfer failed: take this call now")

    async def _keep_company(self) -> None:
        """Until the transfer lands or an operator acts, the caller hears a person is coming:
        as soon as they stop talking, and again every few seconds (sooner if they cut it off)."""
        while not self._company_done():
            await self.host.caller_voice().until_quiet()  # never talk over someone in distress
            if self._company_done():
                return
            heard = await self.host.speak_line(KEEP_COMPANY_LINE)
            await asyncio.sleep(KEEP_COMPANY_EVERY_S if heard else 0.0)

    def _company_done(self) -> bool:
        return bool(self.connected_to) or self._over()

    def dial_finished(self, outcome: str) -> str | None:
        """The <Dial action> callback's outcome. Returns the next number to dial, if any."""
        target = self.connected_to or ""
        self.host.events(ev.TransferFinished, target=target, outcome=outcome)
        if outcome not in UNANSWERED or self._next >= len(self.numbers):
            return None
        self.connected_to = self.numbers[self._next]
        self._next += 1
        return self.connected_to


class Triage:
    """Where the two detectors meet the conversation: the agent's tokens and the caller's words.
    A hit starts one escalation; none starts while one is under way."""

    def __init__(self, host: EscalationHost, numbers: tuple[str, ...]) -> None:
        self._host = host
        self._numbers = numbers
        self._scanner = AgentScanner(host.profile.match_agent_trigger)
        self.escalation: Escalation | None = None
        # After a person judged an escalation, the rest of the turn that raised it (its later
        # interims and final repeat the phrase) must not raise it again.
        self._judged = False

    def reply_started(self) -> None:
        self._scanner.reset()

    def agent_gate(self, token: str) -> bool:
        """Every LLM token passes here before it can be spoken. False stops the reply: the
        sentence holding a trigger is never synthesized."""
        if self.escalation is not None:
            return False
        phrase = self._scanner.feed(token)
        if phrase is not None:
            self._trigger(TriageMatch("agent", phrase, token))
            return False
        return True

    def check_caller(self, text: str) -> None:
        if self.escalation is not None or self._judged:
            return
        if phrase := self._host.profile.match_caller_emergency(text):
            self._trigger(TriageMatch("caller", phrase, text))

    def caller_turn_ended(self) -> None:
        """Words after this are a new turn: an emergency phrase in them counts again."""
        self._judged = False

    def _trigger(self, match: TriageMatch) -> None:
        self.escalation = Escalation(self._host, self._numbers)
        self._host.tasks.spawn("emergency", self.escalation.run(match))

    def handed_over(self) -> None:
        """A person has the call: the escalation (if any) is over, for good."""
        if self.escalation is not None:
            self.escalation.stop()
            self._judged = True
        self.escalation = None

    def dial_finished(self, outcome: str) -> str | None:
        """Twilio's <Dial action> outcome for a transfer; returns the next number to try."""
        if self.escalation is None:
            self._host.events(ev.TransferFinished, target="", outcome=outcome)
            return None
        return self.escalation.dial_finished(outcome)
