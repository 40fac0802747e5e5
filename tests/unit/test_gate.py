"""Approve-before-speak on the call logic with in-process providers: what waits, what is heard,
what the history keeps, approving what is shown while the rest is written, the timeout policy
and the audit. (Over the real server and fakes:
tests/integration/test_gated_replies.py.)"""

from __future__ import annotations

import asyncio

import pytest

from console.calls.gate import GATE_LINE, HOLD_LINES, GateOptions, NothingToDecide, hold_line
from console.calls.live import LiveCalls
from console.storage.records import decode_event
from tests.unit.session_fakes import ScriptedLLM, make_harness

ANSWER = "Two tablets every six hours. Never more than eight a day."
# ANSWER's first five words make two complete pieces ("Two tablets every six", "hours."): the
# first clause is cut after four words, then each sentence.
FIRST, REST = "Two tablets every six hours.", "Never more than eight a day."
EDIT = "A nurse will call you back about the dose within the hour."
HOLD_AUDIO = b"\x20" * 800  # 0.1 s of prepared audio per holding line


class PausingLLM(ScriptedLLM):
    """Writes its first reply up to `pause_after` words, then waits until the test lets it go on:
    what the operator sees while a reply is still being written is then the test's to choose."""

    def __init__(self, pause_after: int, replies=(ANSWER,)) -> None:
        super().__init__(list(replies))
        self.pause_after = pause_after
        self.go_on = asyncio.Event()

    async def reply(self, messages, observer=None):
        written = 0
        async for token in super().reply(messages, observer):
            yield token
            written += 1
            if written == self.pause_after and len(self.requests) == 1:
                await self.go_on.wait()


async def started(*, gate: GateOptions | None = None, replies=(ANSWER,), llm=None,
                  ms_per_char: int = 40):
    h = make_harness(llm=llm or ScriptedLLM(list(replies)), gate=gate or GateOptions())
    h.tts.ms_per_char = ms_per_char
    for line in HOLD_LINES:
        h.session.deps.greetings.remember("test", line, HOLD_AUDIO)
    await h.session.begin()
    await h.until(lambda: h.sender.marks())
    h.echo_marks()
    await h.until(lambda: h.session.state == "listening")
    return h


def spoken(h) -> list[str]:
    """Every line queued to the caller after the greeting (replies and holding lines)."""
    return [e.text for e in h.of_kind("AgentSpoke")][1:]


def proposed(h) -> list:
    return [e for e in h.of_kind("ReplyProposed") if e.complete]


async def ask_dosage(h) -> None:
    h.stt.say("final", "what dosage of ibuprofen can I take", speech_final=True)
    await h.until(lambda: proposed(h))


async def until_agent_turn(h, text: str) -> None:
    def finished() -> bool:
        h.echo_marks()
        return any(e.role == "agent" and e.text == text for e in h.of_kind("TurnCompleted"))

    await h.until(finished)


async def test_a_reply_on_a_gated_topic_is_shown_whole_and_heard_only_once_approved():
    h = await started()
    frames = h.sender.kinds().count("media")
    await ask_dosage(h)
    assert proposed(h)[0].text == ANSWER and proposed(h)[0].reason == "topic: dosage"
    assert h.sender.kinds().count("media") == frames  # none of it was heard
    h.session.gate.decide("approve", "ana")
    await until_agent_turn(h, ANSWER)
    assert " ".join(spoken(h)) == ANSWER  # (in the chunks a reply is always spoken in)
    audit = h.of_kind("GatedReplyDecided")
    assert [(a.decision, a.actor, a.proposed, a.spoken) for a in audit] == [
        ("approved", "ana", ANSWER, ANSWER)]
    assert audit[0].decide_ms >= 0
    await h.session.on_stop("test")


async def test_an_edited_reply_is_spoken_instead_and_is_what_the_llm_history_keeps():
    h = await started(replies=(ANSWER, "Is there anything else?"))
    await ask_dosage(h)
    h.session.gate.decide("edit", "ana", EDIT)
    await until_agent_turn(h, EDIT)
    assert spoken(h) == [EDIT]  # not a word of the original
    h.stt.say("final", "thanks, that's all", speech_final=True)
    await h.until(lambda: len(h.llm.requests) == 2)
    history = [(m.role, m.content) for m in h.llm.requests[1]]
    assert ("assistant", EDIT) in history
    assert not any(ANSWER in content for _, content in history)
    assert h.of_kind("GatedReplyDecided")[0].decision == "edited"
    await h.session.on_stop("test")


async def test_a_rejected_reply_is_never_heard_and_the_operator_has_the_call():
    h = await started()
    live = LiveCalls(h.session.deps.bus)
    live.add(h.session)
    await ask_dosage(h)
    await live.decide_reply(h.session.sid, "reject", "", "ana")
    await h.until(lambda: h.session.state == "operator")
    assert spoken(h) == []
    assert h.of_kind("GatedReplyDecided")[0].decision == "rejected"
    acted = [(e.action, e.actor) for e in h.of_kind("OperatorActed")]
    assert acted == [("reply-reject", "ana"), ("take-over", "ana")]
    await h.session.on_stop("test")


async def test_the_caller_hears_holding_lines_while_waiting_and_the_hold_policy_alerts_once():
    gate = GateOptions(timeout_s=0.35, policy="hold", hold_after_s=0.05, hold_every_s=0.2)
    h = await started(gate=gate)
    await ask_dosage(h)
    await h.until(lambda: len(spoken(h)) >= 3 and h.of_kind("AlertRaised"))
    assert spoken(h)[:3] == [GATE_LINE, hold_line(1), hold_line(2)]
    assert [a.level for a in h.of_kind("AlertRaised")] == ["critical"]
    assert not h.of_kind("GatedReplyDecided")  # holding: nothing unreviewed is said
    h.session.gate.decide("approve", "ana")
    await until_agent_turn(h, ANSWER)
    assert len(h.of_kind("AlertRaised")) == 1
    await h.session.on_stop("test")


async def test_the_approve_policy_speaks_the_proposal_at_the_timeout():
    h = await started(gate=GateOptions(timeout_s=0.2, policy="approve", hold_after_s=5.0))
    await ask_dosage(h)
    await until_agent_turn(h, ANSWER)
    audit = h.of_kind("GatedReplyDecided")[0]
    assert (audit.decision, audit.actor) == ("auto-approved", "timeout")
    assert audit.decide_ms >= 200
    await h.session.on_stop("test")


async def test_an_operator_gate_holds_replies_on_any_topic_until_it_is_turned_off():
    h = await started(replies=("Sure, we open at nine.", "You're welcome."))
    h.session.gate.on = True
    h.stt.say("final", "when do you open", speech_final=True)
    await h.until(lambda: proposed(h))
    assert proposed(h)[0].reason == "operator"
    h.session.gate.decide("approve", "ana")
    await until_agent_turn(h, "Sure, we open at nine.")
    h.session.gate.on = False
    h.stt.say("final", "thank you", speech_final=True)
    await until_agent_turn(h, "You're welcome.")
    assert len(proposed(h)) == 1
    await h.session.on_stop("test")


async def test_approval_needs_a_complete_piece_but_an_edit_may_come_sooner():
    h = await started(llm=PausingLLM(2))  # "Two tablets": no piece of it is complete yet
    with pytest.raises(NothingToDecide):
        h.session.gate.decide("approve", "ana")  # nothing waits
    h.stt.say("final", "what dosage can I take", speech_final=True)
    await h.until(lambda: shown(h) and shown(h).text == "Two tablets")
    assert not shown(h).approvable  # so the console does not offer the approval
    with pytest.raises(NothingToDecide, match="nothing complete to approve yet"):
        h.session.gate.decide("approve", "ana")
    h.session.gate.decide("edit", "ana", EDIT)
    await until_agent_turn(h, EDIT)
    assert spoken(h) == [EDIT]
    await h.session.on_stop("test")


# --- approving what the operator sees, while the reply is still being written ------------------


def shown(h):
    """The proposal as the console last saw it."""
    return (h.of_kind("ReplyProposed") or [None])[-1]


async def approve_first(h) -> None:
    """The caller asks; the LLM pauses after FIRST; the operator approves what is complete."""
    h.stt.say("final", "what dosage of ibuprofen can I take", speech_final=True)
    await h.until(lambda: shown(h) and shown(h).text == FIRST)
    assert shown(h).approvable and not shown(h).complete
    h.session.gate.decide("approve", "ana")


async def test_approving_while_the_reply_is_written_speaks_its_complete_pieces_and_holds_the_rest():
    gate = GateOptions(hold_after_s=0.05, hold_every_s=5.0)
    h = await started(gate=gate, llm=PausingLLM(5), ms_per_char=5)
    await approve_first(h)
    assert (shown(h).approved, shown(h).approvable) == (FIRST, False)
    # Heard at once; once it has played, the caller holds while the rest is written.
    await h.until(lambda: GATE_LINE in spoken(h))
    assert " ".join(spoken(h)[:-1]) == FIRST and spoken(h)[-1] == GATE_LINE
    assert not proposed(h)  # all before the reply was complete
    h.llm.go_on.set()
    await h.until(lambda: proposed(h))
    assert (proposed(h)[0].approved, proposed(h)[0].approvable) == (FIRST, True)
    assert REST not in " ".join(spoken(h))  # written and shown, not approved: unheard
    h.session.gate.decide("approve", "ana")
    await until_agent_turn(h, ANSWER)
    assert spoken(h)[-1] == REST
    audit = h.of_kind("GatedReplyDecided")
    assert [(a.decision, a.actor, a.spoken, a.approved_early) for a in audit] == [
        ("approved", "ana", ANSWER, 2)]
    await h.session.on_stop("test")


async def test_an_edit_after_a_partial_approval_replaces_only_the_unapproved_rest():
    h = await started(llm=PausingLLM(5, replies=(ANSWER, "Is there anything else?")),
                      ms_per_char=5)
    await approve_first(h)
    h.session.gate.decide("edit", "ana", EDIT)  # the rest is still being written: not needed
    heard = f"{FIRST} {EDIT}"
    await until_agent_turn(h, heard)
    assert " ".join(spoken(h)) == heard
    audit = h.of_kind("GatedReplyDecided")
    assert [(a.decision, a.proposed, a.spoken, a.approved_early) for a in audit] == [
        ("edited", FIRST, heard, 2)]
    h.stt.say("final", "thanks, that's all", speech_final=True)
    await h.until(lambda: len(h.llm.requests) == 2)
    history = [(m.role, m.content) for m in h.llm.requests[1]]
    assert ("assistant", heard) in history  # what the caller heard, the approved part included
    await h.session.on_stop("test")


async def test_a_rejection_after_a_partial_approval_says_nothing_more():
    h = await started(llm=PausingLLM(5), ms_per_char=5)
    live = LiveCalls(h.session.deps.bus)
    live.add(h.session)
    await approve_first(h)
    await h.until(lambda: " ".join(spoken(h)) == FIRST)
    await live.decide_reply(h.session.sid, "reject", "", "ana")
    await h.until(lambda: h.session.state == "operator")
    h.llm.go_on.set()  # were the LLM still writing, nothing more of it would be said
    assert " ".join(spoken(h)) == FIRST and h.session.gate.pending is None
    audit = h.of_kind("GatedReplyDecided")
    assert [(a.decision, a.spoken, a.approved_early) for a in audit] == [("rejected", FIRST, 2)]
    await h.session.on_stop("test")


async def test_the_timeout_policy_approves_the_unapproved_rest_once_it_is_complete():
    gate = GateOptions(timeout_s=0.2, policy="approve", hold_after_s=0.05, hold_every_s=0.15)
    h = await started(gate=gate, llm=PausingLLM(5), ms_per_char=5)
    await approve_first(h)
    # The caller is held past the timeout while the rest is written: none of it is approved
    # unseen, as a complete proposal's rest would be.
    await h.until(lambda: len([t for t in spoken(h) if t in HOLD_LINES]) >= 3)
    assert not h.of_kind("GatedReplyDecided")
    h.llm.go_on.set()
    await until_agent_turn(h, ANSWER)
    audit = h.of_kind("GatedReplyDecided")
    assert [(a.decision, a.actor, a.spoken, a.approved_early) for a in audit] == [
        ("auto-approved", "timeout", ANSWER, 2)]
    await h.session.on_stop("test")


async def test_a_hang_up_while_waiting_is_audited_as_withdrawn():
    h = await started()
    await ask_dosage(h)
    await h.session.on_stop("caller hung up")
    audit = h.of_kind("GatedReplyDecided")
    assert [(a.decision, a.proposed, a.spoken) for a in audit] == [("withdrawn", ANSWER, "")]
    assert spoken(h) == []


async def test_a_failed_llm_leaves_the_caller_the_profiles_apology_and_nothing_unreviewed():
    h = await started(llm=ScriptedLLM([ANSWER], fail=True))
    h.stt.say("final", "what dosage can I take", speech_final=True)
    apology = h.session.profile.apology
    await until_agent_turn(h, apology)
    assert " ".join(spoken(h)) == apology  # (in the chunks a reply is always spoken in)
    assert [a.decision for a in h.of_kind("GatedReplyDecided")] == ["withdrawn"]
    await h.session.on_stop("test")


async def test_an_emergency_trigger_in_a_gated_reply_escalates_and_is_never_proposed_whole():
    h = await started(replies=("EMERGENCY_DETECTED. I am connecting you to help now.",))
    h.stt.say("final", "what dosage can I take", speech_final=True)
    await h.until(lambda: h.of_kind("EmergencyDetected") and h.of_kind("GatedReplyDecided"))
    assert h.of_kind("EmergencyDetected")[0].source == "agent"
    assert h.of_kind("GatedReplyDecided")[0].decision == "withdrawn"
    assert not proposed(h)  # the operator was never asked to approve it
    assert not any("EMERGENCY_DETECTED" in text for text in spoken(h))
    await h.session.on_stop("test")


def test_an_audit_stored_before_partial_approvals_still_decodes():
    old = {"proposed": ANSWER, "decision": "approved", "spoken": ANSWER, "actor": "ana",
           "decide_ms": 812.5, "reason": "topic: dosage"}
    audit = decode_event("CA1", "GatedReplyDecided", 0.0, old)
    assert audit is not None and audit.approved_early == 0
    shown = decode_event("CA1", "ReplyProposed", 0.0,
                         {"text": ANSWER, "complete": True, "reason": "topic: dosage"})
    assert shown is not None and (shown.approved, shown.approvable) == ("", False)
