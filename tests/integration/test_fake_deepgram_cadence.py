"""The fake Deepgram keeps the live service's cadence (tests/fakes/deepgram_cadence.py has the
sources): SpeechStarted 100-200 ms after the onset, a first interim 0.6-1.0 s after it with at most
one word, interims 0.8-1.0 s apart, speech_final after the endpointing silence, an empty final for
noise and UtteranceEnd only after words.

A raw WebSocket client sends the audio faster than real time; every message is then placed on the
socket's audio timeline by the fake's own log (`fake.recognizers[n].log`), which is the clock the
service keeps too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from websockets.asyncio.client import connect

from tests import speech
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone

pytestmark = pytest.mark.timeout(20)

QUERY = {"model": "nova-2", "encoding": "mulaw", "sample_rate": "8000", "channels": "1",
         "interim_results": "true", "endpointing": "300", "utterance_end_ms": "1000",
         "vad_events": "true"}  # fmt: skip
BOOKING = "I'd like to book an appointment"
FRAME = 160
Timeline = list[tuple[float, dict[str, Any]]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram() as server:
        yield server


async def listen(fake: FakeDeepgram, audio: bytes, *controls: str, **query: str) -> Timeline:
    """Stream `audio`, send `controls` (then CloseStream), and return this socket's messages on
    its audio timeline."""
    url = f"{fake.base_url.replace('http', 'ws', 1)}/v1/listen?{urlencode({**QUERY, **query})}"
    headers = {"Authorization": f"Token {fake.api_key}"}
    async with connect(url, additional_headers=headers, compression=None) as ws:
        for start in range(0, len(audio), FRAME):
            await ws.send(audio[start : start + FRAME])
        for control in (*controls, "CloseStream"):
            await ws.send(json.dumps({"type": control}))
        received = [json.loads(message) async for message in ws]
    timeline = fake.recognizers[-1].log
    assert [message for _, message in timeline] == [m for m in received if m["type"] != "Metadata"]
    return timeline


def of(timeline: Timeline, kind: str) -> Timeline:
    return [(at, message) for at, message in timeline if message["type"] == kind]


def interims(timeline: Timeline) -> Timeline:
    return [(at, m) for at, m in of(timeline, "Results") if not m["is_final"]]


def finals(timeline: Timeline) -> Timeline:
    return [(at, m) for at, m in of(timeline, "Results") if m["is_final"]]


def text(message: dict[str, Any]) -> str:
    return message["channel"]["alternatives"][0]["transcript"]


def utterances(count: int, speech_ms: int = 3000) -> tuple[bytes, list[float]]:
    """`count` utterances of tone, each after 500 ms of silence and before 1.5 s of it; returns
    the audio and each onset (s)."""
    one = silence(500) + tone(speech_ms) + silence(1500)
    period_s = len(one) / 8000
    return one * count, [0.5 + i * period_s for i in range(count)]


async def test_speech_started_names_the_onset_and_comes_100_to_200_ms_after_it(fake) -> None:
    audio, onsets = utterances(8, speech_ms=600)
    started = of(await listen(fake, audio), "SpeechStarted")
    assert [message["timestamp"] for _, message in started] == pytest.approx(onsets)
    delays = [at - message["timestamp"] for at, message in started]
    assert all(0.1 - 1e-9 <= delay <= 0.2 + 1e-9 for delay in delays)
    assert len({round(delay, 2) for delay in delays}) > 1  # drawn, not one fixed number


async def test_the_first_interim_comes_0_6_to_1_s_after_the_onset_with_at_most_one_word(
    fake,
) -> None:
    fake.script = [BOOKING] * 8
    audio, onsets = utterances(8)
    timeline = await listen(fake, audio)
    firsts = [next((at, m) for at, m in interims(timeline) if at > onset) for onset in onsets]
    for onset, (at, message) in zip(onsets, firsts, strict=True):
        assert 0.6 - 1e-9 <= at - onset <= 1.0 + 1e-9
        assert len(text(message).split()) <= 1


async def test_interims_come_0_8_to_1_s_apart_with_a_growing_prefix(fake) -> None:
    fake.script = ["one two three four five six seven eight nine ten eleven twelve"]
    timeline = await listen(fake, silence(500) + tone(6000) + silence(1500))
    times = [at for at, _ in interims(timeline)]
    texts = [text(message) for _, message in interims(timeline)]
    assert len(times) >= 5
    assert all(0.8 - 1e-9 <= later - earlier <= 1.0 + 1e-9
               for earlier, later in zip(times, times[1:], strict=False))  # fmt: skip
    assert all(grows_from(earlier, later) for earlier, later in zip(texts, texts[1:], strict=False))
    assert len(texts[-1].split()) > len(texts[1].split())


def grows_from(earlier: str, later: str) -> bool:
    """`later` shows at least as many words as `earlier` and starts with them."""
    return later.startswith(earlier) and len(later.split()) >= len(earlier.split())


@pytest.mark.parametrize("endpointing_ms", [300, 500])
async def test_speech_final_comes_when_the_silence_reaches_the_endpointing(
    fake, endpointing_ms: int
) -> None:
    fake.script = [BOOKING]
    timeline = await listen(fake, silence(500) + tone(1200) + silence(1500),
                            endpointing=str(endpointing_ms))  # fmt: skip
    [(at, final)] = finals(timeline)
    assert at == pytest.approx(0.5 + 1.2 + endpointing_ms / 1000)
    assert (text(final), final["speech_final"]) == (BOOKING, True)


async def test_a_pause_shorter_than_the_endpointing_does_not_end_the_utterance(fake) -> None:
    fake.script = [BOOKING]
    audio = silence(500) + tone(800) + silence(280) + tone(800) + silence(1500)
    [(at, final)] = finals(await listen(fake, audio))
    assert at == pytest.approx(0.5 + 0.8 + 0.28 + 0.8 + 0.3)
    assert text(final) == BOOKING


async def test_noise_gets_speech_started_and_an_empty_speech_final_but_no_utterance_end(
    fake,
) -> None:
    fake.script = [""]  # a cough
    timeline = await listen(fake, silence(500) + speech.cough(250) + silence(2500))
    assert of(timeline, "SpeechStarted")
    assert all(text(message) == "" for _, message in of(timeline, "Results"))
    [(_, final)] = finals(timeline)
    assert final["speech_final"] is True
    assert of(timeline, "UtteranceEnd") == []


async def test_utterance_end_follows_words_once_utterance_end_ms_has_passed(fake) -> None:
    fake.script = ["yes"]
    timeline = await listen(fake, silence(500) + tone(600) + silence(2000))
    [(at, message)] = of(timeline, "UtteranceEnd")
    assert message["last_word_end"] == pytest.approx(1.1)
    assert at == pytest.approx(1.1 + 1.0)


async def test_a_cough_after_words_does_not_postpone_the_utterance_end(fake) -> None:
    fake.script = ["yes", ""]
    audio = silence(500) + tone(600) + silence(700) + speech.cough(250) + silence(2000)
    [(at, message)] = of(await listen(fake, audio), "UtteranceEnd")
    assert (message["last_word_end"], at) == pytest.approx((1.1, 2.1))


async def test_finalize_finalises_the_pending_audio_at_once(fake) -> None:
    fake.script = [BOOKING]
    timeline = await listen(fake, silence(500) + tone(700), "Finalize")
    [(at, final)] = finals(timeline)
    assert (text(final), final["from_finalize"], final["speech_final"]) == (BOOKING, True, False)
    assert at == pytest.approx(1.2)
    assert of(timeline, "SpeechStarted")  # owed even though Finalize cut in first


async def test_real_speech_gets_speech_started_at_its_voiced_onset(fake) -> None:
    clip = speech.speech_clip("beckett", 2.0)
    timeline = await listen(fake, silence(500) + clip + silence(1500))
    at, first = of(timeline, "SpeechStarted")[0]
    assert first["timestamp"] == pytest.approx(0.5, abs=0.04)  # the fake hears 20 ms frames
    assert 0.1 - 1e-9 <= at - first["timestamp"] <= 0.2 + 1e-9


async def test_the_same_seed_gives_the_same_messages_and_sockets_differ(fake) -> None:
    fake.script = [BOOKING] * 6
    audio, _ = utterances(2)
    first = await listen(fake, audio)
    second = await listen(fake, audio)
    async with FakeDeepgram(script=[BOOKING] * 2) as again:
        repeat = await listen(again, audio)
    assert describe(repeat) == describe(first)
    assert describe(second) != describe(first)


def describe(timeline: Timeline) -> list[tuple[float, str, str]]:
    return [(at, m["type"], text(m) if m["type"] == "Results" else "") for at, m in timeline]


async def test_the_eager_cadence_is_the_old_quick_one(fake) -> None:
    fake.opts.cadence = "eager"
    fake.script = [BOOKING]
    timeline = await listen(fake, silence(500) + tone(1000) + silence(1500))
    [(started_at, _)] = of(timeline, "SpeechStarted")
    assert started_at == pytest.approx(0.52)  # on the first speech frame
    assert [at for at, _ in interims(timeline)][:3] == pytest.approx([0.7, 0.9, 1.1])
    assert [len(text(m).split()) for _, m in interims(timeline)][:3] == [1, 2, 3]


async def test_each_knob_overrides_the_preset(fake) -> None:
    fake.opts.speech_started_delay_s = (0.3, 0.3)
    fake.opts.first_interim_delay_s = (0.4, 0.4)
    fake.opts.first_interim_words = (2, 2)
    fake.script = [BOOKING]
    timeline = await listen(fake, silence(500) + tone(1000) + silence(1500))
    [(started_at, _)] = of(timeline, "SpeechStarted")
    first_at, first = interims(timeline)[0]
    assert (started_at, first_at) == pytest.approx((0.8, 0.9))
    assert text(first) == "I'd like"


async def test_no_speech_started_without_vad_events_and_no_interims_without_interim_results(
    fake,
) -> None:
    fake.script = [BOOKING]
    timeline = await listen(fake, silence(500) + tone(2000) + silence(1500),
                            vad_events="false", interim_results="false")  # fmt: skip
    assert [m["type"] for _, m in timeline] == ["Results"]
    assert text(timeline[0][1]) == BOOKING
