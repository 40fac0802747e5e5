"""The dead-air watchdog and the recognizer fallback: the caller is never left in silence."""

from __future__ import annotations

import asyncio
import time

from console.calls.deadair import FILLERS, DeadAirWatchdog
from console.calls.presence import AgentPresence
from console.providers.base import AudioQueueReader, ProviderError, TranscriptEvent
from console.providers.fallback import FallbackSTT
from tests.unit.session_fakes import ScriptedLLM, make_harness

LOUD, QUIET = b"\x10" * 160, b"\xff" * 160


async def speak(session, seconds: float) -> None:
    """The caller's voice as loudness: `seconds` of loud frames, 20 ms apart in real time."""
    for _ in range(int(seconds / 0.02)):
        session.on_media(LOUD)
        await asyncio.sleep(0.02)
    session.on_media(QUIET)


async def started_with_fillers(llm: ScriptedLLM):
    h = make_harness(llm=llm)
    for line in FILLERS:
        h.session.deps.greetings.remember("test", line, b"\x20" * 1600)
    await h.session.begin()
    await h.until(lambda: h.sender.marks())
    h.echo_marks()
    await h.until(lambda: h.session.state == "listening")
    return h


async def test_a_slow_reply_is_covered_by_a_holding_phrase_within_2_s():
    llm = ScriptedLLM(["Sure."])
    llm.token_delay = 3.0  # the LLM's first token takes 3 s
    h = await started_with_fillers(llm)
    await speak(h.session, 0.6)
    spoke_at = time.monotonic()
    h.stt.say("final", "what time do you open", speech_final=True)
    await h.until(lambda: any(e.kind == "AgentSpoke" and e.text == FILLERS[0]
                              for e in h.events), timeout=3)
    assert time.monotonic() - spoke_at < 2.0
    assert any(e.kind == "ProviderDegraded" and e.provider == "pipeline" for e in h.events)
    await h.session.on_stop("test")


async def test_a_cough_is_not_a_turn_and_gets_no_holding_phrase():
    h = await started_with_fillers(ScriptedLLM())
    await speak(h.session, 0.2)
    watchdog = DeadAirWatchdog(h.session.ear.vad, AgentPresence(h.session))
    watchdog.check(time.monotonic() + 2.0)  # as if 2 s of quiet had passed since
    assert watchdog.fillers_this_turn == 0
    await h.session.on_stop("test")


class DyingSTT:
    """Reads audio in a sender task, as the Deepgram client does; dies with that task waiting
    on the next chunk (the read is cancelled half-way)."""

    tier = "cloud"

    async def stream(self, audio):
        first = await anext(audio)
        assert first == b"a"
        sender = asyncio.create_task(anext(audio))
        await asyncio.sleep(0)  # the sender is now waiting inside the read
        sender.cancel()
        yield TranscriptEvent("speech-started")
        raise ProviderError("Deepgram refused the API key")


class CountingSTT:
    tier = "local"

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def stream(self, audio):
        async for chunk in audio:
            self.chunks.append(chunk)
        yield TranscriptEvent("final", "heard the rest", True)


async def test_local_recognition_takes_over_the_rest_of_the_audio_when_the_cloud_gives_up():
    told: list[tuple[str, str, str]] = []

    class Observer:
        def degraded(self, provider, problem, fallback):
            told.append((provider, problem, fallback))

        def usage(self, **_):
            pass

    local = CountingSTT()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    queue.put_nowait(b"a")
    stt = FallbackSTT(DyingSTT(), local, Observer())
    stream = stt.stream(AudioQueueReader(queue))
    events = [await anext(stream)]
    for chunk in (b"b", b"c", None):  # audio that arrives after the cloud gave up
        queue.put_nowait(chunk)
    events += [event async for event in stream]
    assert [e.kind for e in events] == ["speech-started", "final"]
    assert local.chunks == [b"b", b"c"]
    assert told == [("stt", "Deepgram refused the API key", "local recognizer")]
