"""Local text-to-speech speaks 8 kHz mu-law that sounds like the sentence it was given."""

from __future__ import annotations

import asyncio
import time

import pytest

from console.audio_codec import mulaw_to_pcm16, rms_dbfs
from console.providers.base import ProviderError
from console.providers.local.tts import (
    CHUNK_BYTES,
    EspeakTTS,
    PiperTTS,
    best_local_tts,
    parse_wav,
    split_sentences,
)

# Piper comes with `make test`; without it these tests fail on purpose rather than skip.

SENTENCE = "Thanks for calling. How can I help you today?"


@pytest.fixture(scope="module")
def piper() -> PiperTTS:
    tts = PiperTTS()
    tts.warm_up()  # the voice loads once for the whole module
    return tts


async def speak(tts: object, text: str) -> list[bytes]:
    return [chunk async for chunk in tts.synthesize(text)]  # type: ignore[attr-defined]


def seconds(mulaw: bytes) -> float:
    return len(mulaw) / 8000  # one byte per sample at 8 kHz


@pytest.mark.parametrize("engine", ["piper", "espeak"])
async def test_a_sentence_becomes_audible_8khz_mulaw_of_a_plausible_length(engine, piper):
    tts = piper if engine == "piper" else EspeakTTS()
    chunks = await speak(tts, SENTENCE)
    audio = b"".join(chunks)
    assert 1.0 < seconds(audio) < 5.0  # 9 words at a normal pace
    assert rms_dbfs(mulaw_to_pcm16(audio)) > -35  # speech, not silence (digital zero is -96)
    assert all(len(chunk) <= CHUNK_BYTES for chunk in chunks) and len(chunks) > 5
    assert tts.tier == "local"


@pytest.mark.parametrize("engine", ["piper", "espeak"])
async def test_a_longer_text_takes_longer_to_say(engine, piper):
    tts = piper if engine == "piper" else EspeakTTS()
    short = b"".join(await speak(tts, "Hello."))
    longer = b"".join(await speak(tts, "Hello. " + SENTENCE))
    assert 0.3 < seconds(short) < 2.0
    assert seconds(longer) > seconds(short) + 1.0


async def test_piper_sends_the_first_chunk_long_before_a_long_text_is_finished(piper):
    text = " ".join([SENTENCE] * 6)
    started = time.perf_counter()
    stream = piper.synthesize(text)
    first = await anext(stream)
    first_at = time.perf_counter() - started
    rest = [chunk async for chunk in stream]
    total = time.perf_counter() - started
    assert first and rest
    assert first_at < total / 3  # one sentence of six was made before the first audio left


async def test_espeak_can_be_cancelled_mid_text_without_leaving_errors():
    stream = EspeakTTS().synthesize(" ".join([SENTENCE] * 4))
    assert await anext(stream)
    await stream.aclose()


async def test_a_consumer_cancelled_while_waiting_for_audio_stops_cleanly(piper):
    got_audio = asyncio.Event()

    async def consume() -> None:
        async for _ in piper.synthesize(" ".join([SENTENCE] * 4)):
            got_audio.set()
            await asyncio.Event().wait()  # stuck like a call whose playout is paused

    task = asyncio.create_task(consume(), name="stuck-consumer")
    await got_audio.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("engine", ["piper", "espeak"])
async def test_empty_text_makes_no_audio(engine, piper):
    tts = piper if engine == "piper" else EspeakTTS()
    assert await speak(tts, "   ") == []


def test_an_unknown_piper_voice_is_a_provider_error_saying_what_is_expected(tmp_path):
    with pytest.raises(ProviderError, match=r"\.onnx"):
        PiperTTS(voice=tmp_path / "missing.onnx")


def test_the_best_local_engine_is_piper_when_it_is_installed():
    assert isinstance(best_local_tts(), PiperTTS)


def test_text_is_split_into_sentences_but_not_inside_numbers():
    assert split_sentences("Hi there.  Who? Yes! It costs 3.5 dollars") == [
        "Hi there.",
        "Who?",
        "Yes!",
        "It costs 3.5 dollars",
    ]


def test_a_streamed_wav_with_placeholder_sizes_is_read_to_its_end():
    header = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"
    header += (22050).to_bytes(4, "little") + (44100).to_bytes(4, "little") + b"\x02\x00\x10\x00"
    wav = header + b"data\xff\xff\xff\x7f" + b"\x01\x00" * 10
    assert parse_wav(wav) == (22050, b"\x01\x00" * 10)
