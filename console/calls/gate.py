"""Approve-before-speak: a gated reply reaches the operator as text before any of it is heard.

A reply is gated when the operator turned the call's gate on (a key, `CallControl.gate_replies`)
or the caller's turn matches one of the profile's `gate_topics` (dosage, refund, legal...). The
LLM's words stream to the operator (`ReplyProposed`) and none of them is heard until someone
decides. Approved, the text is spoken as it is, from speech made while it waited (ahead.py), so
an approval at once costs the caller no TTS round trip. Edited, the edit is spoken instead, and
since the history keeps what the caller heard (the floor closes the turn), the LLM sees the edit,
never the original. Rejected, nothing is said and the operator takes the call.

Meanwhile the caller hears a holding line from prepared audio (never the TTS, as the dead-air
phrases), soon after the proposal is complete and again every few seconds: never silence. Past
the timeout the policy decides: approve, or keep holding and alert the operator. Every gated
reply is audited once (`GatedReplyDecided`): proposed text, decision, who, time to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from console import events as ev
from console.calls import lines
from console.calls.ahead import SpeechAhead
from console.calls.conversation import Conversation
from console.calls.deadair import FILLERS
from console.calls.ports import CallEvents, CallServices
from console.calls.reply import AgentReply
from console.calls.state import CallState
from console.calls.tasks import TaskOwner
from console.calls.triage import Triage
from console.calls.vad import VoiceActivity
from console.calls.voice import ReplyBody, Voice
from console.profiles import Profile
from console.providers.base import ProviderError, ProviderObserver

# The first holding line says what is happening; later ones are the dead-air phrases (all
# prepared at start-up, so a hold never waits on the TTS).
GATE_LINE = "Let me check that for you."
HOLD_LINES = (GATE_LINE, *FILLERS[1:])  # then "Just a moment, please.", "Thanks for waiting."
TIMEOUT_ALERT = "A reply has waited {s:.0f} s for approval: approve, edit or reject it"
# What an operator may say of a waiting reply, and the verdict the audit records.
VERDICTS = {"approve": "approved", "edit": "edited", "reject": "rejected"}

Policy = Literal["approve", "hold"]


@dataclass(frozen=True)
class GateOptions:
    timeout_s: float = 20.0
    """Seconds a complete proposal waits for a decision before the policy acts."""
    policy: Policy = "hold"
    """At the timeout: "approve" speaks the proposal as it is; "hold" keeps the caller holding
    and raises a critical alert (nothing unreviewed is ever said)."""
    hold_after_s: float = 0.6
    """The first holding line once the proposal has waited this long: an operator who approves
    sooner adds no line in front of the reply."""
    hold_every_s: float = 6.0
    """A further holding line this often while the wait goes on."""


class NothingToDecide(RuntimeError):
    """No gated reply waits on this call (or it is still being written, for an approval)."""


@dataclass(frozen=True)
class Decision:
    verdict: str  # approved | edited | rejected | auto-approved | withdrawn
    spoken: str  # what the caller is to hear ("" for nothing)
    actor: str


def _future() -> asyncio.Future[Decision]:
    return asyncio.get_running_loop().create_future()


@dataclass
class Proposal:
    reason: str  # "operator" or the profile topic matched
    text: str = ""
    ready_at: float | None = None  # monotonic: the LLM finished it
    escalated: bool = False  # its tokens tripped the emergency triage
    decision: asyncio.Future[Decision] = field(default_factory=_future)


class GateHost(ProviderObserver, Protocol):
    call_state: CallState
    voice: Voice
    conversation: Conversation
    events: CallEvents
    triage: Triage
    tasks: TaskOwner
    profile: Profile

    @property
    def deps(self) -> CallServices: ...

    def caller_voice(self) -> VoiceActivity: ...


class ReplyGate:
    """One call's gate: whether its replies wait for an operator, and the one that waits."""

    def __init__(self, host: GateHost, options: GateOptions) -> None:
        self._host = host
        self._options = options
        self.on = False  # the operator gated every reply of this call
        self.pending: Proposal | None = None

    def answer(self, caller_text: str) -> ReplyBody:
        """The reply body for a caller turn: gated when the call or the caller's words ask."""
        reason = self.reason_for(caller_text)
        return lines.answer(self._host) if reason is None else self._gated(reason)

    def reason_for(self, caller_text: str) -> str | None:
        if self.on:
            return "operator"
        topic = self._host.profile.match_gate_topic(caller_text)
        return None if topic is None else f"topic: {topic}"

    def holding(self) -> bool:
        """A complete proposal waits for a decision: the gate keeps the caller company."""
        proposal = self.pending
        return proposal is not None and proposal.ready_at is not None and not (
            proposal.decision.done())

    # --- the operator's decision ---------------------------------------------------------------
    def decide(self, action: str, actor: str, text: str = "") -> None:
        """"approve" (once complete), "edit" with the words to say instead, or "reject"."""
        proposal = self.pending
        if action not in VERDICTS:
            raise ValueError(f"{action!r}: decide with one of {', '.join(VERDICTS)}")
        if proposal is None or proposal.decision.done():
            raise NothingToDecide("no gated reply is waiting on this call")
        if action == "approve" and proposal.ready_at is None:
            raise NothingToDecide("the reply is still being written: approve it once complete")
        if action == "edit" and not text.strip():
            raise ValueError("an edit needs the words to say")
        spoken = {"approve": proposal.text.strip(), "edit": text.strip(), "reject": ""}[action]
        self._settle(proposal, Decision(VERDICTS[action], spoken, actor))

    def _settle(self, proposal: Proposal, decision: Decision) -> None:
        proposal.decision.set_result(decision)
        waited = 0.0 if proposal.ready_at is None else time.monotonic() - proposal.ready_at
        self._host.events(ev.GatedReplyDecided, proposed=proposal.text.strip(),
                          decision=decision.verdict, spoken=decision.spoken, actor=decision.actor,
                          decide_ms=round(waited * 1000, 1), reason=proposal.reason)

    # --- the gated reply -------------------------------------------------------------------------
    def _gated(self, reason: str) -> ReplyBody:
        async def body(reply: AgentReply) -> None:
            if self._host.call_state.muted:
                return
            proposal = self.pending = Proposal(reason)
            ahead = SpeechAhead(self._host.deps.tts, self._host.tasks)
            try:
                spoken = await self._decided_words(proposal, reply, ahead)
                await self._say(reply, spoken, proposal, ahead)
            finally:
                self._withdraw(proposal)  # cancelled, escalated or empty: audited all the same
                await ahead.discard()

        return body

    async def _say(self, reply: AgentReply, spoken: str, proposal: Proposal,
                   ahead: SpeechAhead) -> None:
        """Approved as it is: the speech made while it waited. Anything else: those words."""
        reply.clock.stamp("first_sentence", time.monotonic())
        if spoken and spoken == proposal.text.strip():
            for speech in ahead.sentences:
                await reply.speak_sentence(speech.text, speech.stream())
        elif spoken:
            await ahead.discard()  # one TTS stream: the edit is synthesized after it stops
            await lines.fixed_line(self._host, spoken)(reply)

    async def _decided_words(self, proposal: Proposal, reply: AgentReply,
                             ahead: SpeechAhead) -> str:
        reply.clock.stamp("llm_request", time.monotonic())
        try:
            await self._propose(proposal, reply, ahead)
        except ProviderError as error:
            self._host.events.degraded("llm", str(error), "apology")
            return self._host.profile.apology  # a fixed line: nothing unreviewed in it
        if proposal.escalated or not (proposal.text.strip() or proposal.decision.done()):
            return ""
        return (await self._wait(proposal)).spoken

    async def _propose(self, proposal: Proposal, reply: AgentReply, ahead: SpeechAhead) -> None:
        """The LLM's whole reply, shown as it streams and spoken not at all (its speech is made
        ahead, unheard). Its tokens pass the emergency triage as a spoken reply's do: a trigger
        stops it and escalates."""
        async with contextlib.aclosing(self._tokens()) as tokens:
            async for token in tokens:
                reply.clock.stamp("llm_first_token", time.monotonic())
                if not self._host.triage.agent_gate(token):
                    proposal.escalated = True
                    return
                proposal.text += token
                ahead.feed(token)
                self._show(proposal)
                if proposal.decision.done():
                    return  # edited or rejected before the end: the rest is not needed
        ahead.finish()
        proposal.ready_at = time.monotonic()
        self._show(proposal)

    async def _tokens(self) -> AsyncGenerator[str, None]:
        host = self._host
        async for token in host.deps.llm.reply(host.conversation.for_llm(), observer=host):
            yield token

    def _show(self, proposal: Proposal) -> None:
        self._host.events(ev.ReplyProposed, text=proposal.text.strip(), reason=proposal.reason,
                          complete=proposal.ready_at is not None)

    def _withdraw(self, proposal: Proposal) -> None:
        if self.pending is proposal:
            self.pending = None
        if not proposal.decision.done():
            self._settle(proposal, Decision("withdrawn", "", ""))

    # --- the wait -------------------------------------------------------------------------------
    async def _wait(self, proposal: Proposal) -> Decision:
        """Until someone decides. Holding lines on a schedule; at the timeout, the policy."""
        options, lines_played, timed_out = self._options, 0, False
        ready = proposal.ready_at or time.monotonic()
        while not proposal.decision.done():
            waited = time.monotonic() - ready
            if waited >= self._line_due(lines_played):
                self._hold_line(lines_played)
                lines_played += 1
            if waited >= options.timeout_s and not timed_out:
                timed_out = True
                self._timed_out(proposal, waited)
                continue
            deadline = min(self._line_due(lines_played),
                           math.inf if timed_out else options.timeout_s)
            await asyncio.wait([proposal.decision], timeout=max(0.01, deadline - waited))
        return proposal.decision.result()

    def _line_due(self, played: int) -> float:
        return self._options.hold_after_s + played * self._options.hold_every_s

    def _timed_out(self, proposal: Proposal, waited: float) -> None:
        if self._options.policy == "approve":
            self._settle(proposal, Decision("auto-approved", proposal.text.strip(), "timeout"))
        else:
            self._host.events(ev.AlertRaised, level="critical",
                              message=TIMEOUT_ALERT.format(s=waited))

    def _hold_line(self, played: int) -> None:
        """Prepared audio only. Not over the caller, nor over agent audio still playing."""
        host = self._host
        if host.caller_voice().talking() or host.voice.pacer.is_playing():
            return
        text = hold_line(played)
        if (audio := lines.prepared(host, text)) is not None:
            host.voice.play_filler(audio)
            host.events(ev.AgentSpoke, text=text)


def hold_line(played: int) -> str:
    """The first line says the agent is checking; the later ones take turns."""
    later = HOLD_LINES[1:]
    return HOLD_LINES[0] if played == 0 else later[(played - 1) % len(later)]
