"""What a reply's chunks look like on Aura's speak socket, and the limit of 20 Flushes in 60 s.

The real deepgram-sdk talks to the loopback FakeDeepgram; nothing is mocked. The fake's audio for a
text is unique to it (`fake.audio_for`), so "exactly these bytes" proves no audio was lost and none
leaked from another chunk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from console.calls.metrics import TurnClock
from console.calls.pacing import Pacer
from console.calls.reply import AgentReply
from console.calls.sentences import SentenceChunker
from console.providers.deepgram.client import make_client
from console.providers.deepgram.tts import DeepgramTTS
from tests.fakes.deepgram_fake import FakeDeepgram
from tests.unit.session_fakes import RecordingSender

pytestmark = pytest.mark.timeout(30)

BOOKING = "Sure, I can help you with that booking today. Which day suits you?"
# A reply of three sentences that opens with a clause: four chunks, four Flushes.
REPLY = "Okay, {n} is noted. We open at nine on weekdays. Is there anything else?"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    # 5 ms of audio a character: a chunk streams in a few ms, so 40 chunks take well under 60 s.
    async with FakeDeepgram(first_byte_ms=5, ms_per_char=5) as server:
        yield server


@pytest.fixture
async def tts(fake: FakeDeepgram) -> AsyncIterator[DeepgramTTS]:
    provider = DeepgramTTS(fake.api_key, fake.base_url)
    yield provider
    await provider.aclose()


async def llm_tokens(text: str) -> AsyncGenerator[str, None]:
    for token in [text[:4], text[4], *[" " + w for w in text[6:].split(" ")]]:
        yield token  # "Sure", ",", " I", " can" ...: the comma is its own token, as from Llama


def chunks_of(text: str) -> list[str]:
    chunker = SentenceChunker()
    out = [c for word in text.split(" ") for c in chunker.feed(word + " ")]
    return out + ([rest] if (rest := chunker.flush()) else [])


async def spoken(tts: DeepgramTTS, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def client_frames(fake: FakeDeepgram) -> list[str]:
    return [kind for kind, _ in fake.speak_messages]


async def test_the_caller_hears_sure_as_its_own_speak_and_flush_before_the_rest(fake, tts):
    reply = AgentReply(tts=tts, pacer=Pacer(RecordingSender()), clock=TurnClock())
    await reply.play_tokens(llm_tokens(BOOKING))
    assert [r.text for r in fake.tts_requests] == [
        "Sure,", "I can help you with that booking today.", "Which day suits you?",
    ]  # fmt: skip
    assert client_frames(fake) == ["Speak", "Flush"] * 3
    sure, rest = fake.tts_requests[0], fake.tts_requests[1]
    assert sure.transport == "ws" and sure.flushed
    assert sure.first_byte_at is not None and sure.first_byte_at < rest.received_at
    heard = b"".join(bytes(s.audio) for s in reply.spoken.segments)
    assert heard.startswith(fake.audio_for("Sure,") + fake.audio_for(rest.text))
    assert reply.clock.stamps["first_sentence"] <= sure.received_at  # the stamp is the first chunk


async def test_the_fake_warns_and_sends_no_audio_for_a_flush_past_twenty_in_sixty_seconds(fake):
    from deepgram.speak.v1.types import SpeakV1Text

    client = make_client(fake.api_key, fake.base_url)
    got: list[object] = []
    async with client.speak.v1.connect(model="aura-asteria-en", encoding="mulaw",
                                       sample_rate=8000) as sc:  # fmt: skip
        first = await sc.recv()
        for n in range(21):
            await sc.send_text(SpeakV1Text(text=f"Line {n}."))
            await sc.send_flush()
            while (message := await sc.recv()) is not None and isinstance(message, bytes):
                got.append(message)
            got.append(message)
        await sc.send_close()
    kinds = [getattr(m, "type", "audio") for m in got if not isinstance(m, bytes)]
    assert getattr(first, "type", None) == "Metadata"
    assert kinds == ["Flushed"] * 20 + ["Warning"]
    assert [getattr(m, "sequence_id", None) for m in got if not isinstance(m, bytes)][:20] == list(
        range(20)
    )
    assert got[-1].code == "FLUSH_LIMIT_EXCEEDED" and "flush" in got[-1].description.lower()
    assert not fake.tts_requests[-1].flushed and fake.tts_requests[-1].bytes_sent == 0


async def test_a_busy_call_with_many_replies_in_a_minute_loses_no_audio(fake, tts):
    replies = [REPLY.format(n=n) for n in range(10)]  # 40 chunks, within a few seconds
    waits = []
    for reply in replies:
        for chunk in chunks_of(reply):
            started = time.monotonic()
            assert await spoken(tts, chunk) == fake.audio_for(chunk), chunk
            waits.append(time.monotonic() - started)
    # Without the count, the 21st chunk waited out the 5 s stall timeout for audio that never
    # came, then went again on a new socket: 5 s of silence on the line.
    assert max(waits) < 1.0
    transports = [r.transport for r in fake.tts_requests]
    assert len(transports) == 40 and fake.speak_warnings == []
    assert transports == ["ws"] * 20 + ["rest"] * 20  # the socket's 20 Flushes, then REST
    assert fake.speak_count("Flush") == 20 and fake.speak_connections == 1


async def test_a_flush_refused_anyway_is_cleared_and_its_chunk_goes_by_rest(fake, tts):
    fake.opts.flush_limit = 2  # stricter than the provider's count of 20
    texts = [f"Chunk number {n} of the reply." for n in range(4)]
    for text in texts:
        assert await spoken(tts, text) == fake.audio_for(text), text
    assert len(fake.speak_warnings) == 1 and fake.speak_count("Clear") == 1
    assert [r.transport for r in fake.tts_requests] == ["ws", "ws", "ws", "rest", "rest"]
    refused = fake.tts_requests[2]
    assert refused.cleared and refused.bytes_sent == 0  # its text was never spoken late


async def test_flushes_go_back_to_the_socket_once_the_window_has_passed(fake):
    fake.opts.flush_limit, fake.opts.flush_window_s = 2, 0.3
    tts = DeepgramTTS(fake.api_key, fake.base_url, flush_limit=2, flush_window_s=0.35)
    try:
        for n in range(3):
            await spoken(tts, f"Before the pause, {n}.")
        await asyncio.sleep(0.4)
        assert await spoken(tts, "After the pause.") == fake.audio_for("After the pause.")
    finally:
        await tts.aclose()
    assert [r.transport for r in fake.tts_requests] == ["ws", "ws", "rest", "ws"]
    assert fake.speak_warnings == []
