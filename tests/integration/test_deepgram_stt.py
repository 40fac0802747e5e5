"""DeepgramSTT (Nova) on the real deepgram-sdk, pointed at the loopback FakeDeepgram. What it
shares with Flux (refused keys, bounded reconnects, cancellation) is in test_deepgram_listen.py.

Tone bursts are speech to the fake; audio is sent faster than real time because the fake, like
Deepgram, times endpointing on the audio timeline.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import AsyncIterator

import pytest

from console.providers.base import TranscriptEvent
from console.providers.deepgram.stt import DeepgramSTT
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone
from tests.integration.test_deepgram_listen import RecordingObserver, final_after_finalize, frames

pytestmark = pytest.mark.timeout(20)

FRAME = 160
BOOKING = "I'd like to book an appointment"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram(script=[BOOKING, "My name is John Smith"]) as server:
        yield server


async def collect(stt: DeepgramSTT, audio: AsyncIterator[bytes]) -> list[TranscriptEvent]:
    return [event async for event in stt.stream(audio)]


def kinds(events: list[TranscriptEvent]) -> list[str]:
    return [event.kind for event in events]


def finals(events: list[TranscriptEvent]) -> list[tuple[str, bool]]:
    return [(e.text, e.speech_final) for e in events if e.kind == "final"]


def utterance() -> tuple[bytes, ...]:
    return silence(300), tone(1000), silence(1500)


async def test_spoken_audio_yields_growing_interims_then_the_scripted_final(fake) -> None:
    # 3 s of speech: the live cadence's first interim comes 0.6-1.0 s in with at most one word
    # (and empty ones are dropped), so growth shows only over a few interims.
    stt = DeepgramSTT(fake.api_key, fake.base_url)
    events = await collect(stt, frames(silence(300), tone(3000), silence(1500)))
    interims = [e.text for e in events if e.kind == "interim"]
    assert finals(events) == [(BOOKING, True)]
    assert interims and all(BOOKING.startswith(text) for text in interims)
    assert interims == sorted(interims, key=len)
    assert kinds(events)[-1] == "utterance-end"


async def test_the_socket_asks_for_twilio_mulaw_with_endpointing_and_vad(fake) -> None:
    stt = DeepgramSTT(fake.api_key, fake.base_url, endpointing_ms=250, language="en-US")
    await collect(stt, frames(silence(200)))
    assert fake.listen_queries == [
        {"model": "nova-2", "encoding": "mulaw", "sample_rate": "8000", "channels": "1",
         "interim_results": "true", "endpointing": "250", "utterance_end_ms": "1000",
         "vad_events": "true", "smart_format": "true", "punctuate": "true", "language": "en-US"}
    ]  # fmt: skip


async def test_each_socket_carries_the_key_but_the_sdk_headers_are_built_once(
    fake, monkeypatch
) -> None:
    """The SDK reads its version from package metadata for every socket (~0.5 ms on the event
    loop, twice per call); a shared client builds the headers once and every socket still
    authenticates (the fake refuses a socket without the key)."""
    lookups: list[str] = []
    real_version = importlib.metadata.version

    def counting_version(name: str) -> str:
        lookups.append(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", counting_version)
    stt = DeepgramSTT(fake.api_key, fake.base_url)
    for _ in range(3):
        events = await collect(stt, frames(silence(200)))
        assert "error" not in kinds(events)
    assert len(fake.listen_queries) == 3
    assert lookups.count("deepgram-sdk") == 1


async def test_caller_audio_is_forwarded_byte_for_byte(fake) -> None:
    audio = b"".join(utterance())
    await collect(DeepgramSTT(fake.api_key, fake.base_url), frames(audio))
    assert fake.audio_bytes == len(audio)


async def test_speech_started_arrives_before_the_final(fake) -> None:
    events = await collect(DeepgramSTT(fake.api_key, fake.base_url), frames(*utterance()))
    assert kinds(events).index("speech-started") < kinds(events).index("final")


async def test_split_finals_arrive_in_order_and_only_the_last_ends_the_utterance(fake) -> None:
    fake.opts.split_finals = True
    fake.opts.cadence = "eager"  # about message order, not timing: half the words show by 0.6 s
    events = await collect(DeepgramSTT(fake.api_key, fake.base_url), frames(*utterance()))
    assert finals(events) == [("I'd like to", False), ("book an appointment", True)]


async def test_two_utterances_give_two_speech_finals_in_script_order(fake) -> None:
    audio = (*utterance(), tone(600), silence(1500))
    events = await collect(DeepgramSTT(fake.api_key, fake.base_url), frames(*audio))
    assert finals(events) == [(BOOKING, True), ("My name is John Smith", True)]


async def test_a_socket_dropped_mid_utterance_reconnects_and_replays_the_words(fake) -> None:
    fake.opts.drop_after_speech_frames = 20  # 400 ms into the 1 s burst
    observer = RecordingObserver()
    stt = DeepgramSTT(fake.api_key, fake.base_url, observer=observer, backoff_s=0.01)
    events = await collect(stt, frames(*utterance()))
    assert finals(events) == [(BOOKING, True)]
    assert fake.drops == 1 and fake.listen_connections == 2
    [(provider, problem, fallback)] = observer.degradations
    assert (provider, fallback) == ("deepgram-stt", "reconnected") and "1011" in problem


async def test_a_drop_after_a_final_replays_only_the_unfinalised_audio(fake) -> None:
    first = silence(300) + tone(600) + silence(700)  # finalised at 1.2 s, the endpoint
    second = tone(600) + silence(1500)
    fake.opts.drop_after_speech_frames = 40  # 30 frames in the first burst, 10 in the second
    stt = DeepgramSTT(fake.api_key, fake.base_url, backoff_s=0.01)
    events = await collect(stt, frames(first, second))
    assert finals(events) == [(BOOKING, True), ("My name is John Smith", True)]
    assert fake.listen_audio[1] == len(first + second) - 1200 * 8  # all but the finalised 1.2 s


async def test_keepalive_keeps_the_socket_open_while_audio_pauses(fake) -> None:
    fake.opts.idle_timeout_s = 0.5  # the fake closes idle sockets after 0.5 s (Deepgram: 10 s)

    async def paused_audio() -> AsyncIterator[bytes]:
        async for frame in frames(silence(200)):
            yield frame
        # No audio until the server has seen a second's worth of KeepAlives (2x its idle limit).
        await fake.wait_for(lambda: fake.control_count("KeepAlive") >= 10, timeout=5)
        async for frame in frames(*utterance()):
            yield frame

    stt = DeepgramSTT(fake.api_key, fake.base_url, keepalive_s=0.1)
    events = await collect(stt, paused_audio())
    assert finals(events) == [(BOOKING, True)]
    assert fake.listen_connections == 1


async def test_no_keepalive_is_sent_while_audio_flows(fake) -> None:
    stt = DeepgramSTT(fake.api_key, fake.base_url, keepalive_s=0.05)
    await collect(stt, frames(*utterance()))
    assert fake.control_count("KeepAlive") == 0


async def test_audio_ending_mid_speech_still_yields_the_final_before_the_stream_ends(fake) -> None:
    events = await collect(
        DeepgramSTT(fake.api_key, fake.base_url), frames(silence(200), tone(600))
    )
    assert finals(events) == [(BOOKING, True)]
    assert fake.control_count("CloseStream") == 1


async def test_events_carry_the_monotonic_time_they_were_received(fake) -> None:
    before = time.monotonic()
    events = await collect(DeepgramSTT(fake.api_key, fake.base_url), frames(*utterance()))
    [(_, sent_at)] = fake.finals_sent
    [final] = [e for e in events if e.kind == "final"]
    assert before < sent_at <= final.at < sent_at + 0.5


async def test_finalize_brings_the_final_at_once_instead_of_at_the_endpoint(fake) -> None:
    """The call asks when the caller went quiet over the agent: it must know what was said
    now, not 300 ms later at Deepgram's endpoint."""
    event = await final_after_finalize(DeepgramSTT(fake.api_key, fake.base_url), fake)
    assert (event.text, event.speech_final) == (BOOKING, True)  # it closes the utterance
    assert fake.control_count("Finalize") == 1
    assert fake.results_sent[-1]["from_finalize"] is True


async def test_noise_closes_its_utterance_with_an_empty_final() -> None:
    """A cough is heard as sound but has no words: the recognizer says so, so a paused agent
    can go on at once."""
    async with FakeDeepgram(script=[""]) as server:
        stt = DeepgramSTT(server.api_key, server.base_url)
        events = await collect(stt, frames(silence(300), tone(300), silence(1500)))
    assert finals(events) == [("", True)]
    assert "interim" not in kinds(events)
