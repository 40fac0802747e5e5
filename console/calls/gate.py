"""Approve-before-speak: a gated reply reaches the operator as text before any of it is heard.

A reply is gated when the operator turned the call's gate on (a key, `CallControl.gate_replies`)
or the caller's turn matches one of the profile's `gate_topics` (dosage, refund, legal...). The
LLM's words stream to the operator (`ReplyProposed`) and none of them is heard until someone
decides. Approved, the text is spoken as it is, from speech made while it waited (ahead.py), so
an approval at once costs the caller no TTS round trip. The operator approves what they see: while
the reply is still being written, an approval covers its complete pieces shown so far (first
clause, then sentences), heard at once, and what is written later waits for another approval; so
the caller need not wait for text nobody has read yet. Once complete, an approval covers all the
rest. Edited, the edit is spoken in place of the unapproved rest, and since the history keeps what
the caller heard (the floor closes the turn), the LLM sees the edit, never the original. Rejected,
nothing more is said and the operator takes the call.

Meanwhile the caller hears a holding line from prepared audio (never the TTS, as the dead-air
phrases), soon after they start waiting on the operator (the proposal is complete, or its approved
part has played) and again every few seconds: never silence. Past the timeout the policy decides
the unapproved rest: approve, or keep holding and alert the operator. Every gated reply is audited
once (`GatedReplyDecided`): proposed text, decision, what the caller was allowed to hear, who,
time to decide.
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
from console.calls.tasks import TaskOwner, cancel_and_wait
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
NOTHING_COMPLETE = ("nothing complete to approve yet: the reply's first words are still being "
                    "written (approve once a piece is whole, or edit or reject it now)")
# What an operator may say of a waiting reply, and the verdict the audit records.
VERDICTS = {"approve": "approved", "edit": "edited", "reject": "rejected"}

Policy = Literal["approve", "hold"]


@dataclass(frozen=True)
class GateOptions:
    timeout_s: float = 20.0
    """Seconds the caller waits on a decision (on a complete proposal, or once its approved part
    has played) before the policy acts on the unapproved rest."""
    policy: Policy = "hold"
    """At the timeout: "approve" speaks the rest as it is; "hold" keeps the caller holding and
    raises a critical alert (nothing unreviewed is ever said)."""
    hold_after_s: float = 0.6
    """The first holding line once the caller has waited this long: an operator who approves
    sooner adds no line in front of the reply."""
    hold_every_s: float = 6.0
    """A further holding line this often while the wait goes on."""


class NothingToDecide(RuntimeError):
    """No gated reply waits on this call (or, for an approval, none of it is complete yet)."""


@dataclass(frozen=True)
class Decision:
    verdict: str  # approved | edited | rejected | auto-approved | withdrawn
    spoken: str  # all the caller is allowed to hear of the reply ("" for nothing)
    actor: str
    instead: str = ""  # an edit: the words said in place of the unapproved rest


def _future() -> asyncio.Future[Decision]:
    return asyncio.get_running_loop().create_future()


@dataclass
class Proposal:
    reason: str  # "operator" or the profile topic matched
    ahead: SpeechAhead  # its complete pieces, their speech made as they arrive
    text: str = ""
    ready_at: float | None = None  # monotonic: the LLM finished it
    ended: bool = False  # the LLM stream is over: complete, or stopped short (an emergency...)
    failed: bool = False  # the LLM failed: the profile's apology is said instead
    approved: int = 0  # how many of `ahead.sentences` the caller may hear
    approved_early: int = 0  # of those, approved while the reply was still being written
    approver: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # approved, decided, ended
    decision: asyncio.Future[Decision] = field(default_factory=_future)

    def approvable(self) -> bool:
        """Complete pieces wait for approval (or, once complete, the rest does)."""
        return len(self.ahead.sentences) > self.approved

    def approved_text(self) -> str:
        """The start of the text that is approved, cut from the text itself so that the console
        can show the rest after it (the pieces were cut from it, in order)."""
        text, end = self.text.strip(), 0
        for speech in self.ahead.sentences[: self.approved]:
            end = text.index(speech.text, end) + len(speech.text)
        return text[:end]

    def over(self) -> bool:
        """Nothing more of it will be approved: decided, or the LLM stopped short (an emergency,
        a failure, a cancel) or wrote nothing."""
        complete = self.ready_at is not None
        return self.decision.done() or (self.ended and not (complete and self.ahead.sentences))


@dataclass
class _Holding:
    """One wait for the operator: since when the caller waits, the holding lines played so far,
    and whether the timeout has acted."""

    since: float | None = None
    lines: int = 0
    timed_out: bool = False


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
        """The caller waits on the operator (the proposal is complete, or part of it approved):
        the gate keeps them company."""
        proposal = self.pending
        return proposal is not None and not proposal.decision.done() and (
            proposal.ready_at is not None or proposal.approved > 0)

    # --- the operator's decision ---------------------------------------------------------------
    def decide(self, action: str, actor: str, text: str = "") -> None:
        """"approve" (what is complete), "edit" with the words to say instead of the unapproved
        rest, or "reject"."""
        proposal = self.pending
        if action not in VERDICTS:
            raise ValueError(f"{action!r}: decide with one of {', '.join(VERDICTS)}")
        if proposal is None or proposal.decision.done():
            raise NothingToDecide("no gated reply is waiting on this call")
        if action == "edit" and not text.strip():
            raise ValueError("an edit needs the words to say")
        if action == "approve":
            self._approve(proposal, actor)
            return
        heard, edit = proposal.approved_text(), text.strip() if action == "edit" else ""
        spoken = " ".join(filter(None, (heard, edit)))  # what was approved stays said
        self._settle(proposal, Decision(VERDICTS[action], spoken, actor, instead=edit))

    def _approve(self, proposal: Proposal, actor: str) -> None:
        """Once complete: all the rest. Before: the complete pieces shown so far, heard at once."""
        if proposal.ready_at is not None:
            self._approve_rest(proposal, "approved", actor)
            return
        if not proposal.approvable():
            raise NothingToDecide(NOTHING_COMPLETE)
        proposal.approved = proposal.approved_early = len(proposal.ahead.sentences)
        proposal.approver = actor
        proposal.changed.set()
        self._show(proposal)  # the console shows what is approved, and that nothing waits

    def _approve_rest(self, proposal: Proposal, verdict: str, actor: str) -> None:
        proposal.approved = len(proposal.ahead.sentences)
        self._settle(proposal, Decision(verdict, proposal.text.strip(), actor))

    def _settle(self, proposal: Proposal, decision: Decision) -> None:
        proposal.decision.set_result(decision)
        proposal.changed.set()
        waited = 0.0 if proposal.ready_at is None else time.monotonic() - proposal.ready_at
        self._host.events(ev.GatedReplyDecided, proposed=proposal.text.strip(),
                          decision=decision.verdict, spoken=decision.spoken, actor=decision.actor,
                          decide_ms=round(waited * 1000, 1), reason=proposal.reason,
                          approved_early=proposal.approved_early)

    # --- the gated reply -------------------------------------------------------------------------
    def _gated(self, reason: str) -> ReplyBody:
        async def body(reply: AgentReply) -> None:
            if self._host.call_state.muted:
                return
            ahead = SpeechAhead(self._host.deps.tts, self._host.tasks)
            proposal = self.pending = Proposal(reason, ahead)
            reply.clock.stamp("llm_request", time.monotonic())
            writer = self._host.tasks.spawn("gate-proposal", self._write(proposal, reply))
            try:
                await self._speak_approved(proposal, reply)
                await cancel_and_wait(writer)  # edited or rejected early: the rest is not needed
                await self._finish(proposal, reply)
            finally:
                await cancel_and_wait(writer)
                self._withdraw(proposal)  # cancelled, escalated or empty: audited all the same
                await ahead.discard()

        return body

    async def _speak_approved(self, proposal: Proposal, reply: AgentReply) -> None:
        """Each approved piece as soon as it is approved, in order, from the speech made ahead;
        between approvals, the wait."""
        played = 0
        while True:
            for speech in proposal.ahead.sentences[played : proposal.approved]:
                reply.clock.stamp("first_sentence", time.monotonic())
                await reply.speak_sentence(speech.text, speech.stream())
                played += 1
            if proposal.over():
                return
            await self._wait(proposal, played)

    async def _finish(self, proposal: Proposal, reply: AgentReply) -> None:
        """After the approved part: the apology if the LLM failed, the edit if there is one."""
        if proposal.failed:
            await lines.fixed_line(self._host, self._host.profile.apology)(reply)
        elif proposal.decision.done() and (edit := proposal.decision.result().instead):
            await proposal.ahead.discard()  # one TTS stream: the edit is synthesized after it stops
            await lines.fixed_line(self._host, edit)(reply)

    async def _write(self, proposal: Proposal, reply: AgentReply) -> None:
        """The LLM's reply, shown as it streams and spoken not at all (its speech is made ahead,
        unheard). A failure is a fixed line: nothing unreviewed in it."""
        try:
            await self._propose(proposal, reply)
        except ProviderError as error:
            proposal.failed = True
            self._host.events.degraded("llm", str(error), "apology")
        finally:
            proposal.ended = True
            proposal.changed.set()

    async def _propose(self, proposal: Proposal, reply: AgentReply) -> None:
        """Its tokens pass the emergency triage as a spoken reply's do: a trigger stops it short
        (nothing more of it is approved) and escalates."""
        async with contextlib.aclosing(self._tokens()) as tokens:
            async for token in tokens:
                reply.clock.stamp("llm_first_token", time.monotonic())
                if not self._host.triage.agent_gate(token):
                    return
                proposal.text += token
                proposal.ahead.feed(token)
                self._show(proposal)
                if proposal.decision.done():
                    return  # edited or rejected before the end: the rest is not needed
        self._complete(proposal)

    def _complete(self, proposal: Proposal) -> None:
        proposal.ahead.finish()
        proposal.ready_at = time.monotonic()
        self._show(proposal)
        if proposal.approved and not proposal.approvable() and not proposal.decision.done():
            # Approved piece by piece to the end: nothing is left to decide.
            self._approve_rest(proposal, "approved", proposal.approver)

    async def _tokens(self) -> AsyncGenerator[str, None]:
        host = self._host
        async for token in host.deps.llm.reply(host.conversation.for_llm(), observer=host):
            yield token

    def _show(self, proposal: Proposal) -> None:
        self._host.events(ev.ReplyProposed, text=proposal.text.strip(), reason=proposal.reason,
                          complete=proposal.ready_at is not None,
                          approved=proposal.approved_text(), approvable=proposal.approvable())

    def _withdraw(self, proposal: Proposal) -> None:
        if self.pending is proposal:
            self.pending = None
        if not proposal.decision.done():
            self._settle(proposal, Decision("withdrawn", proposal.approved_text(), ""))

    # --- the wait -------------------------------------------------------------------------------
    async def _wait(self, proposal: Proposal, played: int) -> None:
        """Until more may be said (an approval) or nothing more will be. Once the caller waits on
        the operator, holding lines on a schedule; at the timeout, the policy on the rest."""
        hold = _Holding()
        while proposal.approved == played and not proposal.over():
            proposal.changed.clear()
            if hold.since is None:
                hold.since = self._waiting_since(proposal, played)
            if hold.since is None:
                await self._changed_within(proposal, self._until_heard(played))
            else:
                waited = time.monotonic() - hold.since
                await self._changed_within(proposal, self._keep_company(proposal, hold, waited))

    def _waiting_since(self, proposal: Proposal, played: int) -> float | None:
        """When the caller began to wait on the operator (None: not yet). With nothing approved,
        once the proposal is complete (the dead-air watchdog covers its writing); with a part
        approved, once that part has played: that wait counts as a complete proposal's would."""
        if not played:
            return proposal.ready_at
        pacer = self._host.voice.pacer
        return None if pacer.is_playing() else pacer.playout_end

    def _until_heard(self, played: int) -> float | None:
        """Seconds until the approved part should have played (None: wait for a change)."""
        pacer = self._host.voice.pacer
        return max(0.02, pacer.playout_end - time.monotonic()) if played else None

    def _keep_company(self, proposal: Proposal, hold: _Holding, waited: float) -> float:
        """A holding line when one is due; the policy once a complete proposal has waited the
        timeout. Returns the seconds until the next of them is due."""
        options = self._options
        if waited >= self._line_due(hold.lines):
            self._hold_line(hold.lines)
            hold.lines += 1
        complete = proposal.ready_at is not None
        if waited >= options.timeout_s and complete and not hold.timed_out:
            hold.timed_out = True
            self._timed_out(proposal, waited)
        timeout = math.inf if hold.timed_out or not complete else options.timeout_s
        return min(self._line_due(hold.lines), timeout) - waited

    @staticmethod
    async def _changed_within(proposal: Proposal, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(None if seconds is None else max(0.01, seconds)):
                await proposal.changed.wait()

    def _line_due(self, played: int) -> float:
        return self._options.hold_after_s + played * self._options.hold_every_s

    def _timed_out(self, proposal: Proposal, waited: float) -> None:
        if self._options.policy == "approve":
            self._approve_rest(proposal, "auto-approved", "timeout")
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
