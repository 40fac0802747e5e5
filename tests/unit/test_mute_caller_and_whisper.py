"""Issue 15 in the call core: "mute caller" stops barge-in and answers, never triage; and an
operator's whisper stays in what the LLM is sent however long the call grows."""

from __future__ import annotations

from console.calls.conversation import Conversation
from tests.unit.session_fakes import ScriptedLLM
from tests.unit.test_floor import agent_turns, greeted, played_out, speaking, talk

GUIDANCE = "Operator guidance: offer Tuesday at 3 pm"


def test_a_whisper_stays_in_the_llm_context_after_many_turns() -> None:
    conversation = Conversation("You are a scheduler.")
    conversation.caller_said("hello")
    conversation.guidance("offer Tuesday at 3 pm")
    for n in range(40):  # far past the 20 messages the history trim keeps
        conversation.agent_said(f"answer number {n}")
        conversation.caller_said(f"question number {n}")
    sent = conversation.for_llm()
    assert [m.content for m in sent[:2]] == ["You are a scheduler.", GUIDANCE]
    assert sent[-1].content == "question number 39"
    assert sum(m.content == GUIDANCE for m in sent) == 1
    assert len(sent) == 22  # the system prompt, the pinned whisper, the 20 newest


def test_a_recent_whisper_keeps_its_place_in_the_conversation() -> None:
    conversation = Conversation("You are a scheduler.")
    for n in range(3):
        conversation.caller_said(f"question {n}")
        conversation.agent_said(f"answer {n}")
    conversation.guidance("offer Tuesday at 3 pm")
    conversation.caller_said("so when then?")
    contents = [m.content for m in conversation.for_llm()]
    assert contents[-2:] == [GUIDANCE, "so when then?"]


async def test_the_llm_is_sent_the_whisper_on_a_turn_long_after_it() -> None:
    h = await greeted(ScriptedLLM(["Tuesday at 3 works."]))
    h.session.operator.whisper("offer Tuesday at 3 pm")
    for n in range(30):
        h.session.conversation.caller_said(f"earlier question {n}")
        h.session.conversation.agent_said(f"earlier answer {n}")
    h.stt.say("final", "when can I come in", speech_final=True)
    await h.until(lambda: h.llm.requests)
    contents = [m.content for m in h.llm.requests[0]]
    assert GUIDANCE in contents and contents[-1] == "when can I come in"
    await h.session.on_stop("test")


async def test_a_muted_caller_neither_pauses_nor_cuts_the_agent_nor_is_answered() -> None:
    h = await speaking(ScriptedLLM(["Hold on. One moment please.", "Okay."]))  # 1.1 s of speech
    h.session.operator.pause_listening(True)
    await talk(h.session, 0.3)
    h.stt.say("final", "Stop. Stop talking.", speech_final=True)
    await played_out(h)  # the reply played to its end
    assert "clear" not in h.sender.kinds()
    assert not h.of_kind("AgentInterrupted") and not agent_turns(h)[-1].interrupted
    assert len(h.llm.requests) == 1  # their words were not answered...
    said = [(e.role, e.text) for e in h.of_kind("TurnCompleted")]
    assert ("caller", "Stop. Stop talking.") in said  # ...but are in the call's record
    await h.session.on_stop("test")


async def test_a_muted_caller_in_distress_still_raises_the_emergency() -> None:
    h = await greeted(ScriptedLLM(["Okay."]))
    h.session.operator.pause_listening(True)
    h.stt.say("final", "I have chest pain", speech_final=True)
    await h.until(lambda: h.of_kind("EmergencyDetected"))
    assert h.of_kind("EmergencyDetected")[0].phrase == "chest pain"
    await h.session.on_stop("test")


async def test_an_unmuted_caller_barges_in_and_is_answered_again() -> None:
    h = await speaking()
    h.session.operator.pause_listening(True)
    h.session.operator.pause_listening(False)
    await talk(h.session, 0.3)
    await h.until(lambda: "clear" in h.sender.kinds())
    h.stt.say("final", "Stop.", speech_final=True)
    await h.until(lambda: len(h.llm.requests) == 2)
    assert h.of_kind("AgentInterrupted")[0].cause == "caller-words"
    await h.session.on_stop("test")


async def test_a_reply_paused_for_the_caller_resumes_once_they_are_muted() -> None:
    h = await speaking(ScriptedLLM(["Hold on. One moment please.", "Okay."]))
    await talk(h.session, 0.3)
    await h.until(lambda: h.session.state == "paused")
    h.session.operator.pause_listening(True)
    h.stt.say("final", "Stop. Stop talking.", speech_final=True)  # words: no longer a cut
    await h.until(lambda: h.of_kind("AgentResumed"))
    await played_out(h)
    assert not h.of_kind("AgentInterrupted") and not agent_turns(h)[-1].interrupted
    assert len(h.llm.requests) == 1
    await h.session.on_stop("test")
