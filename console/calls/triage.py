"""Emergency triage: notice trigger words from either side, and get the caller to a person.

Two detectors. The agent's token stream is scanned as it arrives, with a rolling tail so a phrase
split across tokens still matches, and the reply stops before the sentence holding it is spoken.
The caller's interim and final transcripts are matched too. On a hit the escalation cuts playback,
keeps the caller company and asks Twilio to redirect the call to a person, again and again, for as
long as the caller waits: an outage of Twilio REST is outlasted, not given up on. If the redirect
does not land at once, the operator alert goes critical. Never silence.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from console import events as ev
from console.calls.company import keep_company
from console.calls.ports import CallEvents, CallServices, HeldCall
from console.calls.state import CallMode, CallState
from console.calls.tasks import TaskOwner
from console.calls.vad import VoiceActivity
from console.profiles import Profile

log = logging.getLogger(__name__)

# Twilio REST is asked again about once a second (0.6 to 0.9 s from the start of one attempt to the
# start of the next) for as long as the caller waits, so the redirect lands within a second of
# Twilio answering again, even after a long outage. The jitter keeps calls that failed together
# from retrying in step.
RETRY_EVERY_S = 0.75
RETRY_JITTER_S = 0.15
# Twilio answers a redirect in well under a second; one that hangs longer is abandoned so the next
# attempt starts on time (it may still land: a second redirect to the same <Dial> is harmless).
ATTEMPT_TIMEOUT_S = 0.8
# A blip is over in a few attempts (about 2 s); still failing after these, the operator must act.
ALERT_AFTER_ATTEMPTS = 3
# The caller hears the line (about 4 s), this much silence, the line again...: never more than
# about a second and a half wondering whether anyone is there, and time to speak between.
COMPANY_PAUSE_S = 1.2
KEEP_COMPANY_LINE = "Please stay on the line. I am connecting you to a person right now."
# Said in turn. One line, as hold lines are: each line is prepared for every profile at start-up
# (start-up waits for them all; a second line made it 0.2 s slower on the fakes).
COMPANY_LINES = (KEEP_COMPANY_LINE,)
ANNOUNCE_LINE = "Connecting you to a person now."
CRITICAL_ALERT = "Emergency transfer failed: take this call now"
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


class EscalationHost(HeldCall, Protocol):
    """What an escalation needs of its call (a warm transfer may hold it)."""

    sid: str
    call_state: CallState
    events: CallEvents
    tasks: TaskOwner
    park_on_stop: bool
    profile: Profile

    @property
    def deps(self) -> CallServices: ...

    async def interrupt(self, cause: str) -> None: ...

    async def speak_line(self, text: str, *, role: str = "agent") -> bool: ...

    def caller_voice(self) -> VoiceActivity: ...


def next_attempt_after(started: float) -> float:
    """When the attempt after one started at `started` begins (monotonic)."""
    return started + RETRY_EVERY_S + random.uniform(-RETRY_JITTER_S, RETRY_JITTER_S)


class Escalation:
    def __init__(self, host: EscalationHost, numbers: tuple[str, ...]) -> None:
        self.host = host
        self.numbers = [n for n in numbers if n]
        self._current = 0  # the number being dialled (Twilio REST failures never move it on)
        self._attempts = 0
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
        host.tasks.spawn("emergency-company", keep_company(
            host, COMPANY_LINES, COMPANY_PAUSE_S, self._company_done))
        if not await self._warm_transfer(match):
            await self.redirect_until_landed()

    async def _warm_transfer(self, match: TriageMatch) -> bool:
        """Issue 15: with the profile's `emergency_transfer = "warm"`, the emergency numbers are
        called in turn and briefed while the caller holds. False: not asked for, or it could not
        start (the cold redirect, retried until it lands, takes over)."""
        host = self.host
        warm = host.deps.warm
        warm_rule = host.profile.emergency_transfer == "warm"
        if not warm_rule or warm is None or not self.numbers:
            return False
        host.park_on_stop = True
        try:
            await warm.start(host, tuple(self.numbers), f"emergency: the {match.source} said "
                             f"{match.phrase}")
        except Exception as error:  # noqa: BLE001 - the cold transfer is the fallback
            host.park_on_stop = False
            log.warning("call %s: warm emergency transfer failed (%s): going cold", host.sid,
                        error)
            return False
        self.connected_to = self.numbers[0]  # the company lines stop: the caller is on hold
        return True

    def stop(self) -> None:
        """A person took the call: no more transfer attempts or company lines."""
        self.stopped = True

    def _over(self) -> bool:
        return self.stopped or self.host.call_state.mode is not CallMode.TRANSFERRING

    async def redirect_until_landed(self) -> bool:
        """Ask Twilio to dial the current emergency number until it accepts (True), the call
        ends or a person takes it. A refused redirect says nothing about the number (Twilio
        checks it when <Dial> runs, and reports that through the dial action), so every retry
        goes to the same one."""
        if not self._can_redirect():
            self._raise_critical()
            return False
        while not self._over():
            started = time.monotonic()
            number = self.numbers[self._current]
            if await self._attempt(number):
                self.connected_to = number
                return True
            if self._attempts >= ALERT_AFTER_ATTEMPTS:
                self._raise_critical()
            await asyncio.sleep(max(0.0, next_attempt_after(started) - time.monotonic()))
        return False

    def _can_redirect(self) -> bool:
        """Without a number or Twilio credentials no retry can help: say so once."""
        if not self.numbers:
            log.error("call %s: emergency with no EMERGENCY_FALLBACK_NUMBER set", self.host.sid)
            return False
        if self.host.deps.actions is None:
            self._attempts += 1
            self._attempted(self.numbers[0], False,
                            "no Twilio credentials: cannot redirect the call")
            return False
        return True

    async def _attempt(self, number: str) -> bool:
        if self._over():
            return False  # a person has the call now: no redirect behind their back
        actions = self.host.deps.actions
        assert actions is not None  # _can_redirect refused the escalation without them
        self._attempts += 1
        try:
            await asyncio.wait_for(
                actions.transfer(self.host.sid, number, announce=ANNOUNCE_LINE),
                ATTEMPT_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - every failure is recorded and retried
            self._attempted(number, False, str(error) or type(error).__name__)
            return False
        self._attempted(number, True)
        return True

    def _attempted(self, number: str, ok: bool, detail: str = "") -> None:
        self.host.events(ev.TransferAttempted, target=number, attempt=self._attempts, ok=ok,
                         detail=detail)

    def _raise_critical(self) -> None:
        """The redirect is not landing: the operator must act. Highest alert, once."""
        if self._alerted:
            return
        self._alerted = True
        self.host.events(ev.AlertRaised, level="critical", message=CRITICAL_ALERT)

    def _company_done(self) -> bool:
        return bool(self.connected_to) or self._over()

    def dial_finished(self, outcome: str) -> str | None:
        """The <Dial action> callback's outcome. Returns the next number to dial, if any."""
        target = self.connected_to or ""
        self.host.events(ev.TransferFinished, target=target, outcome=outcome)
        if outcome not in UNANSWERED or self._current + 1 >= len(self.numbers):
            return None
        self._current += 1
        self.connected_to = self.numbers[self._current]
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

    def resume(self, phrase: str, text: str) -> None:
        """An emergency was under way on the worker that died (fleet failover): its transfer
        starts again at once, from the first number."""
        if self.escalation is None:
            self._trigger(TriageMatch("caller", phrase, text))

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
