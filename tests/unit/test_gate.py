"""Approve-before-speak on the call logic with in-process providers: what waits, what is heard,
what the history keeps, the timeout policy and the audit. (Over the real server and fakes:
tests/integration/test_gated_replies.py.)"""

from __future__ import annotations

import pytest

from console.calls.gate import GATE_LINE, HOLD_LINES, GateOptions, NothingToDecide, hold_line
from console.calls.live import LiveCalls
from tests.unit.session_fakes import ScriptedLLM, make_harness

ANSWER = "Two tablets every six hours. Never more than eight a day."
EDIT = "A nurse will call you back about the dose within the hour."
HOLD_AUDIO = b"\x20" * 800  # 0.1 s of prepared audio per holding line


async def started(*, gate: GateOptions | None = None, replies=(ANSWER,)):
    h = make_harness(llm=ScriptedLLM(list(replies)), gate=gate or GateOptions())
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


async def test_approval_waits_for_the_whole_reply_but_an_edit_may_come_sooner():
    h = await started()
    h.llm.token_delay = 0.05
    with pytest.raises(NothingToDecide):
        h.session.gate.decide("approve", "ana")  # nothing waits
    h.stt.say("final", "what dosage can I take", speech_final=True)
    await h.until(lambda: h.of_kind("ReplyProposed"))
    with pytest.raises(NothingToDecide, match="still being written"):
        h.session.gate.decide("approve", "ana")
    h.session.gate.decide("edit", "ana", EDIT)
    await until_agent_turn(h, EDIT)
    assert spoken(h) == [EDIT]
    await h.session.on_stop("test")


async def test_a_hang_up_while_waiting_is_audited_as_withdrawn():
    h = await started()
    await ask_dosage(h)
    await h.session.on_stop("caller hung up")
    audit = h.of_kind("GatedReplyDecided")
    assert [(a.decision, a.proposed, a.spoken) for a in audit] == [("withdrawn", ANSWER, "")]
    assert spoken(h) == []


async def test_an_emergency_trigger_in_a_gated_reply_escalates_and_is_never_proposed_whole():
    h = await started(replies=("EMERGENCY_DETECTED. I am connecting you to help now.",))
    h.stt.say("final", "what dosage can I take", speech_final=True)
    await h.until(lambda: h.of_kind("EmergencyDetected") and h.of_kind("GatedReplyDecided"))
    assert h.of_kind("EmergencyDetected")[0].source == "agent"
    assert h.of_kind("GatedReplyDecided")[0].decision == "withdrawn"
    assert not proposed(h)  # the operator was never asked to approve it
    assert not any("EMERGENCY_DETECTED" in text for text in spoken(h))
    await h.session.on_stop("test")
