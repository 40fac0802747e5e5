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
from typing import TYPE_CHECKING

from console import events as ev

if TYPE_CHECKING:
    from console.calls.session import CallSession

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


class Escalation:
    def __init__(self, session: CallSession, numbers: tuple[str, ...]) -> None:
        self.session = session
        self.numbers = [n for n in numbers if n]
        self._next = 0
        self._alerted = False
        self.connected_to: str | None = None

    async def run(self, match: TriageMatch) -> None:
        session = self.session
        session._publish(ev.EmergencyDetected, source=match.source, phrase=match.phrase,
                         text=match.text)
        if session._agent_audible():
            await session.interrupt("emergency")
        session._set_state("transferring")
        # The caller hears at once that a person is coming, while Twilio is asked to dial.
        session.tasks.spawn("emergency-company", self._keep_company())
        while not (session.operator_mode or session.ended):
            if await self.transfer_to_next():
                return
            await asyncio.sleep(KEEP_COMPANY_EVERY_S)
            self._next = 0  # every number failed: start over, the operator is already alerted

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
        actions = self.session.deps.actions
        if actions is None:
            self._attempted(number, 1, False, "no Twilio credentials: cannot redirect the call")
            return False
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_S), start=1):
            await asyncio.sleep(delay)
            try:
                await asyncio.wait_for(
                    actions.transfer(self.session.sid, number, announce=ANNOUNCE_LINE),
                    ATTEMPT_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 - every failure is recorded and retried
                self._attempted(number, attempt, False, str(error) or type(error).__name__)
                continue
            self._attempted(number, attempt, True)
            return True
        return False

    def _attempted(self, number: str, attempt: int, ok: bool, detail: str = "") -> None:
        self.session._publish(ev.TransferAttempted, target=number, attempt=attempt, ok=ok,
                              detail=detail)

    def _raise_critical(self) -> None:
        """Once every attempt at a number failed, the operator must act: highest alert, once."""
        if self._alerted:
            return
        self._alerted = True
        self.session._publish(ev.AlertRaised, level="critical",
                              message="Emergency transfer failed: take this call now")

    async def _keep_company(self) -> None:
        """Until the transfer lands or an operator acts, the caller hears a person is coming:
        as soon as they stop talking, and again every few seconds (sooner if they cut it off)."""
        session = self.session
        while not self._company_done():
            await session.speech.until_quiet()  # never talk over someone in distress
            if self._company_done():
                return
            heard = await session.speak_line(KEEP_COMPANY_LINE, state="transferring")
            await asyncio.sleep(KEEP_COMPANY_EVERY_S if heard else 0.0)

    def _company_done(self) -> bool:
        session = self.session
        return bool(self.connected_to or session.operator_mode or session.ended)

    def dial_finished(self, outcome: str) -> str | None:
        """The <Dial action> callback's outcome. Returns the next number to dial, if any."""
        target = self.connected_to or ""
        self.session._publish(ev.TransferFinished, target=target, outcome=outcome)
        if outcome not in UNANSWERED or self._next >= len(self.numbers):
            return None
        self.connected_to = self.numbers[self._next]
        self._next += 1
        return self.connected_to


class TriageHooks:
    """Mixed into CallSession: where the two detectors meet the conversation."""

    def agent_gate(self: CallSession, token: str) -> bool:
        """Every LLM token passes here before it can be spoken. False stops the reply: the
        sentence holding a trigger is never synthesized."""
        if self.escalation is not None:
            return False
        phrase = self._scanner.feed(token)
        if phrase is not None:
            self._trigger(TriageMatch("agent", phrase, token))
            return False
        return True

    def _check_caller_words(self: CallSession, text: str) -> None:
        if self.escalation is None and (phrase := self.profile.match_caller_emergency(text)):
            self._trigger(TriageMatch("caller", phrase, text))

    def _trigger(self: CallSession, match: TriageMatch) -> None:
        self.escalation = Escalation(self, self.options.emergency_numbers)
        self.tasks.spawn("emergency", self.escalation.run(match))

    def dial_finished(self: CallSession, outcome: str) -> str | None:
        """Twilio's <Dial action> outcome for a transfer; returns the next number to try."""
        if self.escalation is None:
            self._publish(ev.TransferFinished, target="", outcome=outcome)
            return None
        return self.escalation.dial_finished(outcome)
