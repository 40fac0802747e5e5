"""Turn-taking on the wire, as a caller hears it: our server, the real SDKs against loopback fakes
that behave like the live services (the fake Deepgram's first interim comes 0.6-1.0 s after
speech starts, with a word or none), and callers made of real human speech (tests/speech.py).

Times are compared on one clock: the simulated caller's loop clock is time.monotonic, and the
bus events are stamped with it as they are published.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from console.calls.deadair import FILLERS
from console.calls.release import ReleaseRule
from console.config import load_settings
from console.runtime import Runtime
from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from tests.fakes.deepgram_fake import silence
from tests.integration.conftest import CloudStack, start_cloud_stack, stop_cloud_stack
from tests.speech import (
    RECORDINGS,
    backchannel,
    command,
    cough,
    monologue,
    recording,
    speech_clip,
    voiced_spans,
)

LONG_REPLY = ("We are open every weekday from eight in the morning until six at night. "
              "On Saturdays we open at nine and close at noon. "
              "On Sundays and public holidays the practice is closed all day. "
              "If you need us outside those hours, the answering service takes a message.")
# The longest the release rule waits (a talk that stops mid-sentence: "...and") plus the
# embedded tier's own time to speak (local voice, four calls on two cores).
ANSWER_WITHIN_S = ReleaseRule().unfinished_hold_s + 0.8


def said(audio: bytes, **options: Any) -> Utterance:
    return Utterance(mulaw=audio + silence(40), **options)


def over_agent(audio: bytes, after_ms: float = 1500) -> Utterance:
    """Sound made `after_ms` into the agent's next reply, over it."""
    return said(audio, barge_in_after_ms=after_ms)


class Stamped:
    """Every bus event with the monotonic time it was published."""

    def __init__(self, stack_or_runtime: Any) -> None:
        runtime = getattr(stack_or_runtime, "runtime", stack_or_runtime)
        self.events: list[tuple[float, Any]] = []
        self._changed = asyncio.Event()
        runtime.bus.subscribe(self._seen)

    def _seen(self, event: Any) -> None:
        self.events.append((time.monotonic(), event))
        self._changed.set()

    async def until(self, predicate: Any, within_s: float = 10.0) -> None:
        async with asyncio.timeout(within_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def of(self, kind: str, **fields: Any) -> list[tuple[float, Any]]:
        return [(t, e) for t, e in self.events if e.kind == kind
                and all(getattr(e, k) == v for k, v in fields.items())]


def at(caller: SimulatedCaller, seconds: float) -> float:
    """A time in the caller's summary (seconds since its call started) as time.monotonic."""
    return caller.started_at + seconds


def reply_sentences(stack: CloudStack, reply: str) -> list[str]:
    return [r.text for r in stack.deepgram.tts_requests if r.text in reply]


@pytest.fixture
async def cloud(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path)
    stack.groq.reply = LONG_REPLY
    yield stack
    await stop_cloud_stack(parts)


@pytest.mark.long
async def test_barge_in_clears_before_the_recognizer_has_transcribed_a_word(cloud):
    cloud.deepgram.script = ["what are your hours", "hang on I have a question"]
    stamped = Stamped(cloud)
    caller = cloud.caller(said(speech_clip("beckett", 1.5)),
                          over_agent(speech_clip("two_cities", 2.0)))
    await caller.run()
    barge = at(caller, caller.log.speech[1]["start"])
    clear = next(at(caller, c) for c in caller.log.clears if at(caller, c) >= barge)
    words = next(t for t, e in stamped.of("CallerTranscribed") if t >= barge)
    assert clear < words
    interrupted = stamped.of("AgentInterrupted", cause="caller-words")
    assert interrupted and "closed all day" not in interrupted[0][1].heard


@pytest.mark.parametrize(("sound", "transcript"), [
    (cough(300), ""),  # the recognizer hears noise: no words
    (backchannel("mhm"), "mhm"),
], ids=["cough", "mhm"])
async def test_a_cough_or_a_mhm_over_the_agent_lets_it_finish_with_every_word_heard(
        cloud, sound, transcript):
    cloud.deepgram.script = ["what are your hours", transcript]
    caller = cloud.caller(said(speech_clip("beckett", 1.5)), over_agent(sound))
    await caller.run()
    heard = bytes(caller.playout.heard)
    sentences = reply_sentences(cloud, LONG_REPLY)
    assert " ".join(sentences) == LONG_REPLY
    assert all(cloud.deepgram.audio_for(s) in heard for s in sentences)
    assert cloud.events("AgentResumed") and not cloud.events("AgentInterrupted")
    assert len(cloud.groq.requests) == 1  # nothing new to answer


async def test_a_one_word_stop_interrupts_the_agent_and_is_answered(cloud):
    cloud.deepgram.script = ["what are your hours", "Stop."]
    caller = cloud.caller(said(speech_clip("beckett", 1.5)), over_agent(command("Stop.")))
    summary = await caller.run()
    assert cloud.events("AgentInterrupted")[0].cause == "caller-words"
    assert cloud.groq.requests[-1].messages[-1]["content"].endswith("Stop.")
    assert summary["utterances"][1]["reply_latency_ms"] is not None  # the answer was heard
    assert not cloud.events("AgentResumed")


async def test_a_key_pressed_while_the_agent_speaks_gets_exactly_one_reply(cloud):
    alpha = "Alpha one is long enough. Alpha two is long enough. Alpha three is long enough."
    beta = "Beta one. Beta two."
    cloud.groq.reply = [alpha, beta]
    cloud.deepgram.script = ["what are your hours"]
    caller = cloud.caller(said(speech_clip("beckett", 1.5)),
                          Utterance(mulaw=b"", keys="1", barge_in_after_ms=600),
                          keep_frames=True)
    await caller.run()
    pressed = caller.log.speech[1]["start"]
    clear = next(c for c in caller.log.clears if c >= pressed)
    after = [f for t, f in zip(caller.log.received_at, caller.received_frames, strict=True)
             if t > clear]
    beta_frames = frames_of(cloud, reply_sentences(cloud, beta))
    assert after and all(f in beta_frames for f in after)  # no frame of the old reply
    assert len(cloud.groq.requests) == 2
    assert "(the caller pressed 1)" in cloud.groq.requests[1].messages[-1]["content"]


def frames_of(stack: CloudStack, sentences: list[str]) -> set[bytes]:
    """The 20 ms frames the pacer makes of these sentences (the last one padded with silence)."""
    frames = set()
    for sentence in sentences:
        audio = stack.deepgram.audio_for(sentence)
        audio += b"\xff" * (-len(audio) % 160)
        frames |= {audio[i : i + 160] for i in range(0, len(audio), 160)}
    return frames


@pytest.mark.long
async def test_after_an_emergency_take_over_then_hand_back_answers_the_next_turn(cloud):
    cloud.deepgram.script = ["I can't breathe", "are you still there"]
    cloud.groq.reply = "Yes, I am here with you."
    # The second line comes 3 s after the first is answered: time for the operator to act.
    caller = cloud.caller(said(speech_clip("beckett", 1.5)),
                          said(silence(3000) + speech_clip("two_cities", 1.5)))
    stamped = Stamped(cloud)
    call = asyncio.create_task(caller.run())
    await stamped.until(lambda: stamped.of("EmergencyDetected") and stamped.of("TransferAttempted"))
    await stamped.until(lambda: stamped.of("TurnCompleted", role="caller"))
    await cloud.runtime.control.take_over(caller.options.call_sid, "test")
    await cloud.runtime.control.hand_back(caller.options.call_sid, "test")
    summary = await call
    asked = [r.messages[-1]["content"] for r in cloud.groq.requests]
    assert any("are you still there" in text for text in asked), asked
    assert summary["utterances"][1]["reply_latency_ms"] is not None


# ---- long speech, both tiers ------------------------------------------------------------------


@pytest.fixture
async def tiers(tmp_path):
    """Both tiers at once (the long calls are real time): the cloud on loopback fakes, and the
    embedded default (local Whisper, local voice, scripted responder)."""
    stack, parts = await start_cloud_stack(tmp_path / "cloud")
    stack.groq.reply = "Thank you, I have noted all of that."
    settings = load_settings(server_port=0, data_db=tmp_path / "embedded.db", _env_file=None,
                             deepgram_api_key=None, groq_api_key=None)
    embedded = Runtime(settings)
    await embedded.start()
    yield {"cloud": (stack.runtime, stack.twilio), "embedded": (embedded, None)}
    await embedded.stop()
    await stop_cloud_stack(parts)


def long_caller(runtime: Runtime, twilio: Any, audio: bytes) -> SimulatedCaller:
    options = CallerOptions(url=runtime.server.media_url, utterances=[said(audio)],
                            reply_timeout_s=15.0, greeting_timeout_s=15.0)
    if twilio is not None:
        token = runtime.settings.twilio.auth_token
        options.auth_token = token.get_secret_value() if token else None
        options.signed_url = f"wss://{runtime.settings.public.url.removeprefix('https://')}/media"
        options.account_sid = runtime.settings.twilio.account_sid or ""
        twilio.add_call(options.call_sid)
    return SimulatedCaller(options)


def idle_lines(runtime: Runtime) -> set[str]:
    from console import profiles

    profile = profiles.load_profile(runtime.settings.profile.default)
    return {profile.reprompt, profile.goodbye, *FILLERS}


@pytest.mark.long
async def test_long_real_speech_is_never_talked_over_or_prompted_and_is_answered_after(tiers):
    """On each tier, four callers at once: a 20 s monologue with short gaps, and each real
    recording whole. None hears the agent while the monologue goes on, none hears an idle line
    (reprompt, goodbye, holding phrase) while speaking, and each is answered within 1.5 s of
    its end."""
    talks = {"monologue": monologue(20.0)} | {name: recording(name) for name in RECORDINGS}
    calls = {(tier, name): (runtime, long_caller(runtime, twilio, audio))
             for tier, (runtime, twilio) in tiers.items() for name, audio in talks.items()}
    stamped = {tier: Stamped(runtime) for tier, (runtime, _) in tiers.items()}
    await asyncio.gather(*(caller.run() for _, caller in calls.values()))
    for (tier, name), (runtime, caller) in calls.items():
        said_idle = idle_lines_said(stamped[tier], caller, idle_lines(runtime))
        assert said_idle == [], f"{tier} {name}: {said_idle}"
        within = answered_within(caller, talks[name])
        assert within <= ANSWER_WITHIN_S, f"{tier} {name}: answered {within:.2f} s after"
        if name == "monologue":
            talk = caller.log.speech[0]
            during = [t for t in caller.log.received_at if talk["start"] < t < talk["end"]]
            assert during == [], f"{tier}: agent audio {during[0] - talk['start']:.1f} s in"


def idle_lines_said(stamped: Stamped, caller: SimulatedCaller, lines: set[str]) -> list[str]:
    """Idle lines the agent said while this caller was speaking, or an idle hang-up."""
    talk, sid = caller.log.speech[0], caller.options.call_sid
    start, end = at(caller, talk["start"]), at(caller, talk["end"])
    said = [e.text for t, e in stamped.of("AgentSpoke", call_sid=sid)
            if start < t < end and e.text in lines]
    return said + [e.reason for _, e in stamped.of("CallEnded", call_sid=sid, reason="idle")]


def answered_within(caller: SimulatedCaller, audio: bytes) -> float:
    """Seconds from the speaker's last voiced frame (not the file's silent tail) to the start
    of the agent's next turn at the caller; infinity when none came."""
    spoke_until = caller.log.speech[0]["start"] + voiced_spans(audio)[-1][1]
    return next((t for t in caller.log.turn_starts if t > spoke_until), float("inf")) - spoke_until
