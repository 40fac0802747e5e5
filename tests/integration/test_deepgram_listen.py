"""What Deepgram's two live recognizers do alike (console/providers/deepgram/listen.py), on the
real deepgram-sdk against the loopback FakeDeepgram: Nova over `/v1/listen`, Flux over
`/v2/listen`. What each model's messages mean is tested in test_deepgram_stt.py and
test_deepgram_flux.py."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from console.providers.base import AudioQueueReader, ProviderError, TranscriptEvent
from console.providers.deepgram.flux import DeepgramFluxSTT
from console.providers.deepgram.listen import ListenSTT
from console.providers.deepgram.stt import DeepgramSTT
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone

pytestmark = pytest.mark.timeout(20)

FRAME = 160
BOOKING = "I'd like to book an appointment"


class RecordingObserver:
    def __init__(self) -> None:
        self.degradations: list[tuple[str, str, str]] = []
        self.usages: list[dict[str, float]] = []

    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        self.degradations.append((provider, problem, fallback))

    def usage(self, **amounts: float) -> None:
        self.usages.append(amounts)


async def frames(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        for start in range(0, len(part), FRAME):
            yield part[start : start + FRAME]
            await asyncio.sleep(0)


async def collect_until_final(stream: AsyncIterator[TranscriptEvent]) -> TranscriptEvent:
    async for event in stream:
        if event.kind == "final":
            return event
    raise AssertionError("the stream ended without a final")


async def final_after_finalize(stt: ListenSTT, fake: FakeDeepgram) -> TranscriptEvent:
    """1 s of speech and only 100 ms of quiet reach Deepgram, then `finalize()`: the final that
    comes first (the call asks when the caller went quiet over the agent, and must know now)."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    stream = stt.stream(AudioQueueReader(queue))
    speech = tone(1000)
    for start in range(0, len(speech), FRAME):
        queue.put_nowait(speech[start : start + FRAME])
    queue.put_nowait(silence(100))
    final = asyncio.create_task(collect_until_final(stream))
    await fake.wait_for(lambda: fake.audio_bytes >= 8800)  # all of it reached Deepgram
    stt.finalize()
    try:
        return await final
    finally:
        queue.put_nowait(None)
        await stream.aclose()


def utterance() -> tuple[bytes, ...]:
    return silence(300), tone(1000), silence(1500)


@pytest.fixture(params=[DeepgramSTT, DeepgramFluxSTT], ids=["nova", "flux"])
def recognizer(request: pytest.FixtureRequest) -> type[ListenSTT]:
    return request.param


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram(script=[BOOKING]) as server:
        yield server


async def collect(stt: ListenSTT, audio: AsyncIterator[bytes]) -> list[TranscriptEvent]:
    return [event async for event in stt.stream(audio)]


async def test_a_refused_key_raises_provider_error_at_once_without_the_key(
    fake, recognizer
) -> None:
    stt = recognizer("not-the-key-1234", fake.base_url, backoff_s=0.5)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="refused the API key") as raised:
        await collect(stt, frames(*utterance()))
    assert time.monotonic() - started < 0.5  # no retry loop
    assert "not-the-key-1234" not in str(raised.value) and fake.listen_connections == 0


async def test_every_socket_dropping_ends_in_provider_error_after_bounded_retries(
    fake, recognizer
) -> None:
    fake.opts.drop_after_speech_frames, fake.opts.max_drops = 5, 100
    stt = recognizer(fake.api_key, fake.base_url, reconnect_attempts=3, backoff_s=0.01)
    with pytest.raises(ProviderError, match="3 reconnects failed"):
        await collect(stt, frames(*utterance()))
    assert fake.listen_connections == 4


async def test_an_unreachable_server_ends_in_provider_error_after_bounded_retries(
    recognizer,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stt = recognizer("key", f"http://127.0.0.1:{port}", reconnect_attempts=2, backoff_s=0.01)
    with pytest.raises(ProviderError, match="cannot connect"):
        await collect(stt, frames(silence(100)))


async def test_cancelling_the_consumer_closes_the_socket(fake, recognizer) -> None:
    live: asyncio.Queue[bytes] = asyncio.Queue()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield await live.get()

    async def consume() -> None:
        async for _ in recognizer(fake.api_key, fake.base_url).stream(endless()):
            pass

    consumer = asyncio.create_task(consume(), name="stt-consumer")
    for part in (silence(200), tone(600)):
        live.put_nowait(part)
    await fake.wait_for(lambda: fake.audio_bytes >= 6400)  # all of it reached Deepgram
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(consumer, timeout=2)
    await fake.wait_for(lambda: fake.listen_open == 0)


async def test_usage_reports_the_seconds_of_audio_sent(fake, recognizer) -> None:
    observer = RecordingObserver()
    audio = b"".join(utterance())
    await collect(recognizer(fake.api_key, fake.base_url, observer=observer), frames(audio))
    assert observer.usages == [{"stt_seconds": pytest.approx(len(audio) / 8000)}]
