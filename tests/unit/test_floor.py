"""Turn-taking with in-process providers: pause at the caller's first sound, then resume or
interrupt; one reply in flight; idle timers that count the caller's voice, not transcripts.
(The same behaviours on the wire, with real speech and the realistic fake Deepgram, are in
tests/integration/test_turn_taking.py.)"""

from __future__ import annotations

import asyncio
import time

from console.calls import ear
from console.calls.prosody import Ending, Verdict
from tests.speech import speech_clip
from tests.unit.session_fakes import ScriptedLLM, make_harness

LOUD, QUIET = b"\x10" * 160, b"\xff" * 160
LONG = "First sentence is here. Second sentence is here. Third sentence is here."


async def talk(session, seconds: float) -> None:
    """A short sound (a cough's loudness), in real time, then one quiet frame."""
    for _ in range(max(2, int(seconds / 0.02))):
        session.on_media(LOUD)
        await asyncio.sleep(0.02)
    session.on_media(QUIET)


async def say_for_real(session, mulaw: bytes) -> None:
    """Real speech, frame by frame in real time (a steady tone would be learnt as line noise)."""
    for start in range(0, len(mulaw) - 159, 160):
        session.on_media(mulaw[start : start + 160])
        await asyncio.sleep(0.02)
    session.on_media(QUIET)


async def greeted(llm: ScriptedLLM | None = None, **options):
    """A call whose greeting has played: the agent is listening."""
    h = make_harness(llm=llm, **options)
    await h.session.begin()
    await h.until(lambda: h.sender.marks())
    h.echo_marks()
    await h.until(lambda: h.session.state == "listening")
    return h


async def speaking(llm: ScriptedLLM | None = None, **options):
    """A call whose agent is in the middle of a reply (greeting played, one caller turn)."""
    h = await greeted(llm or ScriptedLLM([LONG, "Okay."]), barge_in_window_s=0.3, lead_s=0.1,
                      **options)
    h.stt.say("final", "tell me everything", speech_final=True)
    await h.until(lambda: h.session.state == "speaking")
    return h


def agent_turns(h):
    return [e for e in h.of_kind("TurnCompleted") if e.role == "agent"]


def heard_so_far(h) -> str:
    voice = h.session.voice
    return voice.reply.heard_text(voice.pacer.frames_played()) if voice.reply else ""


async def played_out(h) -> None:
    def echo_and_check() -> bool:
        h.echo_marks()
        return len(agent_turns(h)) >= 2
    await h.until(echo_and_check)


async def test_the_callers_first_sound_pauses_the_agent_before_any_word_is_transcribed():
    h = await speaking()
    transcripts = len(h.of_kind("CallerTranscribed"))
    await talk(h.session, 0.04)
    await h.until(lambda: "clear" in h.sender.kinds())
    assert h.session.state == "paused"
    assert len(h.of_kind("CallerTranscribed")) == transcripts
    await h.session.on_stop("test")


async def test_a_cough_resumes_the_reply_from_the_cut_sentence_and_every_word_is_heard():
    h = await speaking()
    await talk(h.session, 0.2)
    await h.until(lambda: h.of_kind("AgentResumed"), timeout=3)
    await played_out(h)
    last = agent_turns(h)[-1]
    assert not last.interrupted and last.text == LONG
    assert h.tts.texts[1:] == LONG.replace(". ", ".|").split("|")  # kept, not re-synthesized
    assert h.session.state == "listening"
    assert len(h.llm.requests) == 1
    await h.session.on_stop("test")


async def test_a_backchannel_is_stored_but_not_answered_and_the_reply_goes_on():
    h = await speaking()
    await talk(h.session, 0.3)
    h.stt.say("interim", "mhm")
    h.stt.say("final", "mhm", speech_final=True)
    await h.until(lambda: h.of_kind("AgentResumed"), timeout=3)
    assert h.of_kind("AgentResumed")[0].backchannel == "mhm"
    await played_out(h)
    assert ("caller", "mhm") in [(e.role, e.text) for e in h.of_kind("TurnCompleted")]
    assert len(h.llm.requests) == 1 and not agent_turns(h)[-1].interrupted
    await h.session.on_stop("test")


async def test_a_one_word_stop_interrupts_and_is_answered():
    h = await speaking()
    await h.until(lambda: len(heard_so_far(h).split()) >= 2)
    await talk(h.session, 0.3)
    h.stt.say("final", "Stop.", speech_final=True)
    await h.until(lambda: len(h.llm.requests) == 2)
    assert h.of_kind("AgentInterrupted")[0].cause == "caller-words"
    assert h.llm.requests[1][-1].content == "Stop."
    assert agent_turns(h)[-1].interrupted and agent_turns(h)[-1].text.startswith("First")
    assert not h.of_kind("AgentResumed")
    await h.session.on_stop("test")


async def test_a_key_pressed_while_the_agent_speaks_gives_exactly_one_reply():
    llm = ScriptedLLM(["Alpha one. Alpha two. Alpha three. Alpha four.", "Beta one. Beta two."])
    llm.token_delay = 0.05  # the first reply is still being written when the key comes
    h = await speaking(llm)
    await h.until(lambda: "Alpha one." in h.tts.texts)
    h.session.on_dtmf("1")
    def new_reply_played() -> bool:
        h.echo_marks()
        return any(t.text.startswith("Beta") and not t.interrupted for t in agent_turns(h))

    await h.until(new_reply_played)  # played to its end: a stray old sentence would show
    after_key = h.tts.texts[h.tts.texts.index("Beta one."):]
    assert after_key == ["Beta one.", "Beta two."]
    assert h.of_kind("AgentInterrupted")[0].cause == "dtmf"
    assert "(the caller pressed 1)" in h.llm.requests[1][-1].content
    await h.session.on_stop("test")


async def test_a_reply_waits_until_the_caller_stops_talking():
    h = await greeted(ScriptedLLM(["Sure."]))
    before = h.sender.kinds().count("media")
    talking = asyncio.create_task(talk(h.session, 0.6))
    await h.until(lambda: h.session.ear.vad.talking())
    h.stt.say("final", "an early final mid-sentence", speech_final=True)
    await h.until(lambda: h.tts.texts[1:] == ["Sure."])
    assert h.sender.kinds().count("media") == before  # ready, but held
    await talking
    await h.until(lambda: h.sender.kinds().count("media") > before, timeout=2)
    await h.session.on_stop("test")


async def test_after_an_emergency_a_take_over_and_hand_back_answers_the_next_turn():
    h = await greeted(ScriptedLLM(["Okay."]))
    h.stt.say("final", "I have chest pain", speech_final=True)
    await h.until(lambda: h.of_kind("EmergencyDetected") and h.session.state == "transferring")
    await h.session.operator.take_over()
    h.session.operator.hand_back()
    assert h.session.state == "listening" and h.session.escalation is None
    h.stt.say("final", "are you still there", speech_final=True)
    await h.until(lambda: h.llm.requests)
    assert h.llm.requests[-1][-1].content.endswith("are you still there")
    await h.session.on_stop("test")


async def test_a_caller_talking_with_no_transcripts_is_never_reprompted():
    h = await greeted(idle_reprompt_s=0.3, idle_hangup_s=0.3)
    await say_for_real(h.session, speech_clip("two_cities", 1.2))  # no transcript until it ends
    assert h.tts.texts[1:] == []
    await h.until(lambda: h.tts.texts[1:] == ["Are you still there?"], timeout=2)
    await h.session.on_stop("test")


async def loop_gaps(until: asyncio.Event) -> float:
    """The longest the loop went without running this task (it asks every 5 ms)."""
    loop, longest = asyncio.get_running_loop(), 0.0
    last = loop.time()
    while not until.is_set():
        await asyncio.sleep(0.005)
        longest, last = max(longest, loop.time() - last), loop.time()
    return longest


async def test_measuring_how_the_callers_voice_ended_never_stalls_the_calls_audio(monkeypatch):
    """The pitch measure is numpy work of 1-3 ms on a quiet core and up to 20 ms on a busy one;
    on the loop, every call's frames wait for it. Here it takes 300 ms: the loop must not."""
    def slow_ending(mulaw: bytes) -> Verdict:
        time.sleep(0.3)
        return Verdict(Ending.FALLING)

    monkeypatch.setattr(ear, "ending_of", slow_ending)
    h = await greeted(ScriptedLLM(["Sure."]), prosody_cue=True)
    before = h.sender.kinds().count("media")
    done = asyncio.Event()
    gaps = asyncio.create_task(loop_gaps(done))
    h.stt.say("final", "I would like to book a cleaning.", speech_final=True)
    await h.until(lambda: h.sender.kinds().count("media") > before, timeout=3)
    done.set()
    assert await gaps < 0.15
    await h.session.on_stop("test")


async def test_a_failed_voice_measure_never_keeps_the_reply_from_the_caller(monkeypatch):
    def broken_ending(mulaw: bytes) -> Verdict:
        raise FloatingPointError("no pitch")

    monkeypatch.setattr(ear, "ending_of", broken_ending)
    h = await greeted(ScriptedLLM(["Sure."]), prosody_cue=True)
    before = h.sender.kinds().count("media")
    h.stt.say("final", "I would like to book a cleaning.", speech_final=True)
    await h.until(lambda: h.sender.kinds().count("media") > before, timeout=3)
    await h.session.on_stop("test")
