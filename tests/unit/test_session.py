"""The call logic with in-process providers: turn-taking, barge-in, what was heard, fallbacks."""

from __future__ import annotations

import pytest

from tests.unit.session_fakes import ScriptedLLM, make_harness


async def started(**kwargs):
    h = make_harness(**kwargs)
    await h.session.begin()
    return h


async def greet_and_play(h) -> None:
    await h.until(lambda: h.sender.marks())
    h.echo_marks()
    await h.until(lambda: h.session.state == "listening")


async def test_greeting_plays_at_once_and_is_stored_as_an_agent_turn():
    h = await started()
    await greet_and_play(h)
    agent_turns = [e for e in h.of_kind("TurnCompleted") if e.role == "agent"]
    assert agent_turns[0].text == "Hello, how can I help?"
    assert h.sender.kinds()[0] == "media"
    await h.session.on_stop("test")


async def test_split_finals_of_one_utterance_get_one_reply():
    h = await started()
    await greet_and_play(h)
    h.stt.say("final", "I'd like to book")
    h.stt.say("final", "an appointment tomorrow.", speech_final=True)
    await h.until(lambda: len(h.sender.marks()) >= 3)
    assert len(h.llm.requests) == 1
    assert h.llm.requests[0][-1].content == "I'd like to book an appointment tomorrow."
    await h.session.on_stop("test")


async def test_reply_is_spoken_sentence_by_sentence_with_a_mark_after_each():
    h = await started(llm=ScriptedLLM(["First sentence here. And a second one."]))
    await greet_and_play(h)
    h.stt.say("final", "hello there", speech_final=True)
    await h.until(lambda: len(h.sender.marks()) == 3)
    assert h.tts.texts[1:] == ["First sentence here.", "And a second one."]
    kinds = h.sender.kinds()
    assert kinds[-1] == "mark" and kinds[-2] == "media"
    await h.session.on_stop("test")


async def test_barge_in_clears_and_no_frame_of_the_cancelled_reply_follows():
    llm = ScriptedLLM(["This is a long reply that keeps going. " * 4])
    h = await started(llm=llm)
    await greet_and_play(h)
    h.stt.say("final", "tell me everything", speech_final=True)
    await h.until(lambda: h.sender.kinds().count("media") > 60)
    h.session.on_media(b"\x10" * 160)  # the caller's voice, over the agent
    h.stt.say("interim", "wait stop please")
    await h.until(lambda: "clear" in h.sender.kinds())
    await h.until(lambda: h.of_kind("AgentInterrupted"))
    after_clear = h.sender.kinds()[h.sender.kinds().index("clear") + 1 :]
    assert "media" not in after_clear
    interrupted = [e for e in h.of_kind("TurnCompleted") if e.interrupted]
    assert interrupted and interrupted[0].role == "agent"
    await h.session.on_stop("test")


async def test_backchannel_does_not_interrupt_the_agent():
    h = await started(llm=ScriptedLLM(["This is a long reply that keeps going. " * 4]))
    await greet_and_play(h)
    h.stt.say("final", "tell me everything", speech_final=True)
    await h.until(lambda: h.sender.kinds().count("media") > 20)
    h.stt.say("speech-started")
    h.stt.say("interim", "mhm")
    h.stt.say("final", "mhm", speech_final=True)
    await h.until(lambda: any(e.kind == "CallerTranscribed" and e.final for e in h.events))
    assert "clear" not in h.sender.kinds()
    assert len(h.llm.requests) == 1
    await h.session.on_stop("test")


async def test_history_holds_only_what_the_caller_heard_after_a_barge_in():
    llm = ScriptedLLM(["Alpha bravo charlie delta echo foxtrot golf hotel india juliet.",
                       "Okay."])
    h = await started(llm=llm)
    await greet_and_play(h)
    greeting_frames = h.sender.kinds().count("media")
    h.stt.say("final", "spell something", speech_final=True)
    await h.until(lambda: h.session.voice.pacer.frames_played() > greeting_frames + 25)
    await h.session.interrupt("test")
    heard = h.of_kind("AgentInterrupted")[0].heard
    assert heard.startswith("Alpha") and "juliet" not in heard
    h.stt.say("final", "go on", speech_final=True)
    await h.until(lambda: len(llm.requests) == 2)
    assistant = [m.content for m in llm.requests[1] if m.role == "assistant"]
    assert assistant[-1] == heard
    await h.session.on_stop("test")


async def test_llm_failure_is_answered_with_the_profile_apology_not_silence():
    h = await started(llm=ScriptedLLM(fail=True))
    await greet_and_play(h)
    h.stt.say("final", "hello", speech_final=True)
    await h.until(lambda: len(h.tts.texts) >= 2)
    assert "trouble" in " ".join(h.tts.texts[1:])
    assert h.of_kind("ProviderDegraded")
    await h.session.on_stop("test")


async def test_turn_metrics_are_published_for_each_reply():
    h = await started()
    await greet_and_play(h)
    h.stt.say("final", "hello", speech_final=True)

    def echo_and_count() -> int:
        h.echo_marks()
        return len(h.of_kind("TurnMeasured")) >= 2

    await h.until(echo_and_count)
    stages = h.of_kind("TurnMeasured")[-1].stages
    assert {"voice_to_voice", "llm_ttft", "tts_ttfb", "played"} <= set(stages)
    await h.session.on_stop("test")


@pytest.mark.parametrize("digit", ["1", "#"])
async def test_dtmf_is_recorded_and_passed_to_the_llm_as_text(digit):
    h = await started()
    await greet_and_play(h)
    h.session.on_dtmf(digit)
    await h.until(lambda: h.llm.requests)
    assert h.of_kind("DtmfPressed")[0].digit == digit
    assert digit in h.llm.requests[0][-1].content
    await h.session.on_stop("test")


async def test_idle_caller_is_reprompted_then_the_call_ends():
    h = await started(idle_reprompt_s=0.05, idle_hangup_s=0.05)
    await greet_and_play(h)

    def echo_and_check() -> bool:
        h.echo_marks()
        return bool(h.of_kind("CallEnded"))

    await h.until(echo_and_check)
    assert h.tts.texts[1:] == ["Are you still there?", "Goodbye."]
    assert h.of_kind("CallEnded")[0].reason == "idle"
    assert h.sender.closed == "idle"


async def test_a_late_transcript_of_words_said_before_the_agent_spoke_does_not_interrupt():
    h = await started(llm=ScriptedLLM(["This is a long reply that keeps going. " * 4]))
    await greet_and_play(h)
    h.session.on_media(b"\x10" * 160)  # the caller spoke...
    h.stt.say("final", "tell me everything", speech_final=True)
    await h.until(lambda: h.sender.kinds().count("media") > 20)  # ...then the agent answered
    h.stt.say("interim", "tell me everything please")  # a slow recognizer's late words
    await h.until(lambda: sum(e.kind == "CallerTranscribed" for e in h.events) >= 2)
    assert "clear" not in h.sender.kinds()
    await h.session.on_stop("test")
