"""The SpeechToText contract, run against every provider.

To add a provider, write an async context manager that yields an `STTSubject` and add an
`STTCase` to CASES. `speech` is one utterance of audio that provider recognises (a tone burst is
speech to the fake Deepgram; a local recogniser needs real words), and `words` what it should hear.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass

import pytest

from console.providers.base import SpeechToText, TranscriptEvent
from console.providers.deepgram_stt import DeepgramSTT
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone

pytestmark = pytest.mark.timeout(20)

FRAME = 160  # 20 ms of Twilio mu-law
KINDS = {"interim", "final", "speech-started", "utterance-end"}
UTTERANCE = "I'd like to book an appointment"


@dataclass(frozen=True)
class STTCase:
    name: str
    open: Callable[[], AbstractAsyncContextManager[SpeechToText]]
    speech: Callable[[], bytes]
    words: str  # what the provider should hear in `speech`


@asynccontextmanager
async def deepgram_on_fake() -> AsyncIterator[SpeechToText]:
    async with FakeDeepgram(script=[UTTERANCE]) as fake:
        yield DeepgramSTT(fake.api_key, fake.base_url)


CASES = [STTCase("deepgram", deepgram_on_fake, lambda: tone(800), UTTERANCE)]


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> STTCase:
    return request.param


async def frames(*parts: bytes) -> AsyncIterator[bytes]:
    """Twilio-sized frames, yielding to the loop between them (not paced: providers must cope)."""
    for part in parts:
        for start in range(0, len(part), FRAME):
            yield part[start : start + FRAME]
            await asyncio.sleep(0)


async def transcribe(stt: SpeechToText, *parts: bytes) -> list[TranscriptEvent]:
    async with aclosing(stt.stream(frames(*parts))) as events:  # type: ignore[type-var]
        return [event async for event in events]


def finals(events: list[TranscriptEvent]) -> list[TranscriptEvent]:
    return [event for event in events if event.kind == "final"]


async def test_silence_speech_silence_yields_exactly_one_speech_final_final(case: STTCase) -> None:
    async with case.open() as stt:
        events = await transcribe(stt, silence(500), case.speech(), silence(1500))
    ends = [event for event in finals(events) if event.speech_final]
    assert len(ends) == 1
    assert " ".join(event.text for event in finals(events)) == case.words


async def test_silence_alone_yields_no_final_and_the_stream_still_ends(case: STTCase) -> None:
    async with case.open() as stt:
        events = await transcribe(stt, silence(1500))
    assert finals(events) == []


async def test_events_are_known_kinds_stamped_with_monotonic_receipt_times(case: STTCase) -> None:
    async with case.open() as stt:
        before = time.monotonic()
        events = await transcribe(stt, silence(300), case.speech(), silence(1500))
        after = time.monotonic()
    assert events and {event.kind for event in events} <= KINDS
    stamps = [event.at for event in events]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after


async def test_no_event_carries_empty_text_except_markers(case: STTCase) -> None:
    async with case.open() as stt:
        events = await transcribe(stt, silence(300), case.speech(), silence(1500))
    assert all(event.text for event in events if event.kind in ("interim", "final"))
