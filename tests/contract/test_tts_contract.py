"""The TextToSpeech contract (base.py), run against every voice the console can use.

Each provider is a fixture parameter: Deepgram Aura over its speak WebSocket and over REST (the
socket refused, as tests/integration/test_deepgram_tts.py forces it), both on the real SDK
against the loopback fake; Piper and espeak-ng on the real engines; and the fallback wrapper after
Aura refused its key (a local voice speaks instead).

What the call needs of the audio: 8 kHz mu-law with no header, in chunks of any size (the pacer
cuts them into 160-byte frames and keeps the remainder for the next chunk, calls/pacing.py), the
first one before the whole text is rendered, and nothing more once the consumer stopped.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from console.providers.base import ProviderError, TextToSpeech
from tests.contract import providers
from tests.contract.support import (
    RecordingObserver,
    cancel_after,
    closing,
    nothing_left_running,
)
from tests.fakes.deepgram_fake import FakeDeepgram, mulaw_decode

pytestmark = pytest.mark.timeout(30)

RATE = 8000  # one mu-law byte per sample
TEXT = "Thanks for calling. Friday at nine? Good."
NEXT = "Friday it is."
# How long speech for a text runs, per character. Measured on TEXT and NEXT (short sentences, so
# the pauses at sentence ends weigh in): espeak-ng 85-93 ms, Piper's joe voice 60-84 (it varies
# from run to run), the fake Aura 60 by its setting; Piper reads a long sentence at ~50. A voice
# whose audio is twice as long as it should be (16 kHz passed off as 8 kHz, or PCM16's two bytes
# a sample passed off as mu-law) measures 120 or more; one that lost most of the text, far less.
MS_PER_CHAR = (40.0, 110.0)
# After the first chunk, the later two sentences take at least this share of the synthesis (a
# voice that streams sentence by sentence: about two thirds; one that renders it whole: ~0).
STILL_RENDERING_SHARE = 0.2
AUDIBLE_DBFS = -35.0  # phone speech sits around -30 to -15 dBFS; digital silence is -inf


@dataclass
class TTSSubject:
    tts: TextToSpeech
    observer: RecordingObserver
    exact: Callable[[str], bytes] | None = None  # the audio a fake backend sends for a text
    stopped: Callable[[], Awaitable[None]] | None = None  # the backend saw the sentence dropped

    async def close(self) -> None:
        """What the call does when it ends: a voice with a socket closes it."""
        closer = getattr(self.tts, "aclose", None)
        if closer is not None:
            await closer()


@asynccontextmanager
async def aura(*, socket: bool = True, key: str | None = None) -> AsyncIterator[TTSSubject]:
    async with FakeDeepgram(first_byte_ms=20) as fake:
        if not socket:
            fake.opts.speak_ws_status = 500  # refused: every sentence goes by REST
        observer = RecordingObserver()
        tts = providers.aura(key or fake.api_key, fake.base_url, observer)

        async def cleared() -> None:
            await fake.wait_for(lambda: fake.speak_count("Clear") == 1, 2.0)

        try:
            yield TTSSubject(tts, observer, fake.audio_for, cleared if socket else None)
        finally:
            await tts.aclose()


def aura_rest() -> AbstractAsyncContextManager[TTSSubject]:
    return aura(socket=False)


@asynccontextmanager
async def piper() -> AsyncIterator[TTSSubject]:
    yield TTSSubject(providers.PiperTTS(), RecordingObserver())


@asynccontextmanager
async def espeak() -> AsyncIterator[TTSSubject]:
    yield TTSSubject(providers.EspeakTTS(), RecordingObserver())


@asynccontextmanager
async def fallback_after_refused_key() -> AsyncIterator[TTSSubject]:
    async with FakeDeepgram() as fake:
        observer = RecordingObserver()
        cloud = providers.aura("not-the-key", fake.base_url, observer)
        # espeak-ng, not the registry's Piper: the wrapper is the subject, and Piper's own
        # contract is checked above (it costs ~10x espeak's CPU).
        tts = providers.FallbackTTS(cloud, providers.EspeakTTS(), observer)
        try:
            yield TTSSubject(tts, observer)
        finally:
            await tts.aclose()


CASES = {
    "aura-websocket": aura,
    "aura-rest": aura_rest,
    "piper": piper,
    "espeak": espeak,
    "fallback-to-local": fallback_after_refused_key,
}


@pytest.fixture(scope="module", params=list(CASES.values()), ids=list(CASES))
def kind(request: pytest.FixtureRequest) -> Callable[[], AbstractAsyncContextManager[TTSSubject]]:
    """Module-scoped, so pytest runs each provider's tests one after the other. (Piper loads
    its voice on the first sentence, once per process: ~0.5 s.)"""
    factory: Callable[[], AbstractAsyncContextManager[TTSSubject]] = request.param
    return factory


@pytest.fixture
async def subject(
    kind: Callable[[], AbstractAsyncContextManager[TTSSubject]],
) -> AsyncIterator[TTSSubject]:
    async with kind() as made:
        yield made


async def spoken(tts: TextToSpeech, text: str) -> list[bytes]:
    return [chunk async for chunk in tts.synthesize(text)]


def assert_sounds_like_speech_of(text: str, audio: bytes) -> None:
    assert audio[:4] != b"RIFF", "headerless mu-law: a WAV header would be played as noise"
    ms_per_char = len(audio) / RATE * 1000 / len(text)
    assert MS_PER_CHAR[0] <= ms_per_char <= MS_PER_CHAR[1], f"{ms_per_char:.0f} ms a character"
    samples = mulaw_decode(audio).astype(np.float64)
    level = 20 * np.log10(np.sqrt(np.mean(samples**2)) / 32768)
    assert level > AUDIBLE_DBFS, f"{level:.0f} dBFS: silence, not speech"


# --- mu-law framing and streaming shape ------------------------------------------------------


async def test_text_streams_as_audible_headerless_8khz_mulaw_of_a_plausible_length(
    subject: TTSSubject,
) -> None:
    """Three sentences. Streaming: a voice that rendered the whole text before yielding hands
    the rest over right after the first chunk, from memory (microseconds); one that streams
    (sentence by sentence, or as the service sends) is still rendering or receiving the later
    sentences then: two more espeak-ng processes, Piper renders or fake-Aura sends. Judged as a
    share of the whole synthesis, after a warm-up line (Piper's voice load, the first
    handshake), so a slow or busy machine stretches both sides alike."""
    async for _ in subject.tts.synthesize("Hello."):
        pass
    chunks: list[bytes] = []
    started = time.monotonic()
    arrivals: list[float] = []
    async for chunk in subject.tts.synthesize(TEXT):
        arrivals.append(time.monotonic())
        chunks.append(chunk)
    assert chunks and all(isinstance(chunk, bytes) and chunk for chunk in chunks)
    audio = b"".join(chunks)
    assert_sounds_like_speech_of(TEXT, audio)
    if subject.exact is not None:
        assert audio == subject.exact(TEXT), "the audio the service sent, nothing more or less"
    waited, delivering = arrivals[0] - started, arrivals[-1] - arrivals[0]
    timing = f"first chunk after {waited:.3f} s, the rest over {delivering:.3f} s"
    assert delivering / (waited + delivering) > STILL_RENDERING_SHARE, timing


async def test_blank_text_is_no_audio_and_no_error(subject: TTSSubject) -> None:
    assert await spoken(subject.tts, "  ") == []


# --- cancellation -------------------------------------------------------------------------------


async def test_cancelling_mid_sentence_stops_it_and_the_next_sentence_is_whole(
    subject: TTSSubject,
) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for _chunk in subject.tts.synthesize(TEXT):
            first.set()

    async with nothing_left_running():
        task = await cancel_after(first, consume())
        assert task.done() and task.cancelled(), "cancellation must end the sentence promptly"
        if subject.stopped is not None:
            await subject.stopped()
        await assert_speaks_whole(subject, NEXT)
        await subject.close()


async def test_closing_mid_sentence_stops_it_and_the_next_sentence_is_whole(
    subject: TTSSubject,
) -> None:
    async with nothing_left_running():
        async with asyncio.timeout(10), closing(subject.tts.synthesize(TEXT)) as audio:
            assert await anext(audio)
        if subject.stopped is not None:
            await subject.stopped()
        await assert_speaks_whole(subject, NEXT)
        await subject.close()


async def assert_speaks_whole(subject: TTSSubject, text: str) -> None:
    """No stale audio of the stopped sentence, nothing of the new one lost."""
    audio = b"".join(await spoken(subject.tts, text))
    if subject.exact is not None:
        assert audio == subject.exact(text)
    else:
        assert_sounds_like_speech_of(text, audio)


# --- the errors each declares -----------------------------------------------------------------


async def aura_raises(match: str, *, key: str | None = None, **fake_options: Any) -> None:
    async with FakeDeepgram(first_byte_ms=5, **fake_options) as fake:
        tts = providers.aura(key or fake.api_key, fake.base_url)
        try:
            with pytest.raises(ProviderError, match=match) as raised:
                await spoken(tts, NEXT)
        finally:
            await tts.aclose()
    assert fake.api_key not in str(raised.value)


async def aura_refused_key() -> None:
    await aura_raises("refused the API key", key="not-the-key")


async def aura_socket_and_rest_fail() -> None:
    await aura_raises(r"socket .* and REST \(HTTP 500\)", speak_ws_status=500, rest_status=500)


async def aura_server_dead() -> None:
    tts = providers.aura("any-key", providers.DEAD_URL)
    try:
        with pytest.raises(ProviderError, match=r"unreachable.* and REST \(ConnectError\)"):
            await spoken(tts, NEXT)
    finally:
        await tts.aclose()


async def piper_voice_missing() -> None:
    with pytest.raises(ProviderError, match="expected an .onnx file"):
        providers.PiperTTS("/no/such/voice.onnx")


async def espeak_fails() -> None:
    tts = providers.EspeakTTS()
    tts.binary = shutil.which("false") or "/bin/false"  # an install that exits with an error
    with pytest.raises(ProviderError, match=r"espeak-ng failed \(1\)"):
        await spoken(tts, NEXT)


async def espeak_missing() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", "/nonexistent")
        with pytest.raises(ProviderError, match="espeak-ng is not installed"):
            providers.EspeakTTS()


async def fallback_is_a_degrade_event() -> None:
    async with fallback_after_refused_key() as subject:
        assert_sounds_like_speech_of(NEXT, b"".join(await spoken(subject.tts, NEXT)))
    [(kind, problem, instead)] = subject.observer.degradations
    assert (kind, instead) == ("tts", "local voice") and "refused the API key" in problem


async def fallback_never_repeats_what_was_heard() -> None:
    """Aura broke off mid-sentence (socket dropped, REST failing): the local voice does not
    start the sentence again; the call hears the error instead."""
    async with FakeDeepgram(speak_ws_drop_after_bytes=960, rest_status=500) as fake:
        cloud = providers.aura(fake.api_key, fake.base_url)
        tts = providers.FallbackTTS(cloud, providers.EspeakTTS(), RecordingObserver())
        heard = bytearray()
        try:
            with pytest.raises(ProviderError, match="REST"):
                async for chunk in tts.synthesize(TEXT):
                    heard += chunk
        finally:
            await tts.aclose()
    assert bytes(heard) == fake.audio_for(TEXT)[:960]


FAILURES = {
    "aura-refused-key-raises-provider-error": aura_refused_key,
    "aura-socket-and-rest-failing-raise-provider-error": aura_socket_and_rest_fail,
    "aura-dead-server-raises-provider-error": aura_server_dead,
    "piper-missing-voice-raises-provider-error": piper_voice_missing,
    "espeak-failing-raises-provider-error": espeak_fails,
    "espeak-missing-raises-provider-error": espeak_missing,
    "fallback-refused-cloud-is-a-degrade-event": fallback_is_a_degrade_event,
    "fallback-after-heard-audio-raises-not-repeats": fallback_never_repeats_what_was_heard,
}


@pytest.mark.parametrize("failure", list(FAILURES.values()), ids=list(FAILURES))
async def test_a_failure_surfaces_as_the_provider_declares(
    failure: Callable[[], Awaitable[None]],
) -> None:
    async with nothing_left_running():
        await failure()


# --- which one a call gets ------------------------------------------------------------------


@pytest.mark.parametrize("cloud", [True, False], ids=["with-deepgram-key", "without"])
async def test_the_registry_gives_a_call_the_voice_of_the_tier_it_reports(cloud: bool) -> None:
    registry = providers.registry(cloud=cloud)
    try:
        tts = registry.tts(providers.profile())
        if cloud:
            assert isinstance(tts, providers.FallbackTTS)
            assert isinstance(tts.primary, providers.DeepgramTTS)
            assert isinstance(tts.secondary, providers.PiperTTS)
        else:
            assert isinstance(tts, providers.PiperTTS)
        assert tts.tier == registry.tiers()["tts"].kind == ("cloud" if cloud else "local")
    finally:
        await registry.aclose()
