"""DeepgramTTS on the real deepgram-sdk, pointed at the loopback FakeDeepgram.

The fake's audio for a text is deterministic noise unique to that text (`fake.audio_for`), so
"exactly these bytes" proves both that nothing was lost and that nothing stale leaked in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from console.providers.base import ProviderError
from console.providers.deepgram.tts import DeepgramTTS
from tests.fakes.deepgram_fake import FakeDeepgram

pytestmark = pytest.mark.timeout(20)

HELLO = "Hello, thanks for calling."
HELP = "How can I help you today?"
LONG = "I can book you in on Friday at nine in the morning, or on Monday afternoon at three."


class RecordingObserver:
    def __init__(self) -> None:
        self.degradations: list[tuple[str, str, str]] = []
        self.usages: list[dict[str, int]] = []

    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        self.degradations.append((provider, problem, fallback))

    def usage(self, **amounts: int) -> None:
        self.usages.append(amounts)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram(first_byte_ms=5) as server:
        yield server


@pytest.fixture
async def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def tts(fake: FakeDeepgram, observer: RecordingObserver) -> AsyncIterator[DeepgramTTS]:
    provider = DeepgramTTS(fake.api_key, fake.base_url, observer=observer)
    yield provider
    await provider.aclose()


async def spoken(tts: DeepgramTTS, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text)])


async def test_each_sentence_streams_its_own_audio_until_flushed_over_one_socket(
    fake, tts, observer
) -> None:
    assert await spoken(tts, HELLO) == fake.audio_for(HELLO)
    assert await spoken(tts, HELP) == fake.audio_for(HELP)
    assert fake.speak_connections == 1 and fake.speak_count("Flush") == 2
    assert fake.speak_queries == [
        {"model": "aura-asteria-en", "encoding": "mulaw", "sample_rate": "8000"}
    ]
    assert observer.usages == [{"tts_characters": len(HELLO)}, {"tts_characters": len(HELP)}]
    assert observer.degradations == []


async def test_audio_arrives_in_several_chunks_as_it_is_made(fake, tts) -> None:
    chunks = [chunk async for chunk in tts.synthesize(LONG)]
    assert len(chunks) > 10


async def test_cancelling_mid_sentence_sends_clear_and_the_next_sentence_has_no_stale_audio(
    fake, tts
) -> None:
    first_chunk = asyncio.Event()

    async def barge_in_victim() -> None:
        async for _ in tts.synthesize(LONG):
            first_chunk.set()

    victim = asyncio.create_task(barge_in_victim(), name="tts-consumer")
    await first_chunk.wait()
    victim.cancel()
    with pytest.raises(asyncio.CancelledError):
        await victim
    await fake.wait_for(lambda: fake.speak_count("Clear") == 1)
    assert await spoken(tts, HELP) == fake.audio_for(HELP)
    assert fake.tts_requests[0].cleared and fake.speak_connections == 1


async def test_a_sentence_abandoned_without_closing_is_cleared_before_the_next(fake, tts) -> None:
    abandoned = tts.synthesize(LONG)
    await anext(abandoned)  # the consumer walks away mid-sentence, keeping the generator
    assert await spoken(tts, HELP) == fake.audio_for(HELP)
    await abandoned.aclose()  # a late close must not clear the sentence that followed
    assert fake.speak_count("Clear") == 1
    assert await spoken(tts, HELLO) == fake.audio_for(HELLO)


async def test_a_refused_socket_falls_back_to_rest_and_tells_the_observer(
    fake, tts, observer
) -> None:
    fake.opts.speak_ws_status = 500
    assert await spoken(tts, HELLO) == fake.audio_for(HELLO)
    assert [r.transport for r in fake.tts_requests] == ["rest"]
    assert fake.rest_queries == [
        {"model": "aura-asteria-en", "encoding": "mulaw", "sample_rate": "8000",
         "container": "none"}
    ]  # fmt: skip
    [(provider, problem, fallback)] = observer.degradations
    assert (provider, fallback) == ("deepgram-tts", "rest") and "500" in problem


async def test_after_a_refused_socket_later_sentences_use_rest_without_retrying_the_socket(
    fake, tts, observer
) -> None:
    fake.opts.speak_ws_status = 500
    await spoken(tts, HELLO)
    assert await spoken(tts, HELP) == fake.audio_for(HELP)
    assert [r.transport for r in fake.tts_requests] == ["rest", "rest"]
    assert len(observer.degradations) == 1  # one notice per episode, not per sentence


async def test_a_socket_dropped_mid_sentence_finishes_over_rest_without_repeating_audio(
    fake, tts, observer
) -> None:
    fake.opts.speak_ws_drop_after_bytes = 1440  # three 480-byte chunks, then 1011
    assert await spoken(tts, LONG) == fake.audio_for(LONG)
    assert [r.transport for r in fake.tts_requests] == ["ws", "rest"]
    [(_, problem, fallback)] = observer.degradations
    assert fallback == "rest" and "1011" in problem


async def test_the_socket_is_reopened_for_the_next_sentence_after_it_died(
    fake, tts, observer
) -> None:
    await spoken(tts, HELLO)
    await fake.kill_sockets()
    await fake.wait_for(lambda: fake.speak_open == 0)
    assert await spoken(tts, HELP) == fake.audio_for(HELP)
    assert fake.speak_connections == 2 and [r.transport for r in fake.tts_requests] == ["ws"] * 2


async def test_when_socket_and_rest_both_fail_synthesize_raises_provider_error(fake, tts) -> None:
    fake.opts.speak_ws_status, fake.opts.rest_status = 500, 500
    with pytest.raises(ProviderError, match=r"REST \(HTTP 500\)"):
        await spoken(tts, HELLO)


async def test_a_rest_bad_request_also_raises_provider_error(fake, tts) -> None:
    fake.opts.speak_ws_status, fake.opts.rest_status = 503, 400
    with pytest.raises(ProviderError, match=r"REST \(HTTP 400\)"):
        await spoken(tts, HELLO)


async def test_a_refused_key_raises_provider_error_without_the_key(fake) -> None:
    tts = DeepgramTTS("not-the-key-5678", fake.base_url)
    try:
        with pytest.raises(ProviderError, match="refused the API key") as raised:
            await spoken(tts, HELLO)
        assert "not-the-key-5678" not in str(raised.value)
    finally:
        await tts.aclose()


async def test_empty_text_makes_no_request(fake, tts) -> None:
    assert await spoken(tts, "   ") == b""
    assert fake.tts_requests == []


async def test_aclose_sends_close_and_the_socket_closes(fake) -> None:
    tts = DeepgramTTS(fake.api_key, fake.base_url)
    await spoken(tts, HELLO)
    await tts.aclose()
    assert fake.speak_count("Close") == 1
    await fake.wait_for(lambda: fake.speak_open == 0)


async def test_first_audio_is_timestamped_after_the_servers_first_byte_delay(fake, tts) -> None:
    fake.opts.first_byte_ms = 60
    await spoken(tts, HELLO)
    [request] = fake.tts_requests
    assert request.first_byte_at is not None
    assert request.first_byte_at - request.received_at >= 0.06
