"""The SpeechToText contract, run against every provider.

To add a provider, write an async context manager that yields an `STTSubject` and add an
`STTCase` to CASES. `speech` is one utterance of audio that provider recognises (a tone burst is
speech to the fake Deepgram; a local recogniser needs real words), and `words` what it should hear.

What a recognizer that detects turns (Flux) legitimately does differently is in the contract
(base.py): a `tentative` end comes before the sure one, and `whole_turn` texts restate the turn
so far instead of adding to it. The helpers read events that way; the assertions are the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass

import pytest

from console.providers.base import SpeechToText, TranscriptEvent
from console.providers.deepgram.flux import DeepgramFluxSTT
from console.providers.deepgram.stt import DeepgramSTT
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone

pytestmark = pytest.mark.timeout(20)

FRAME = 160  # 20 ms of Twilio mu-law
KINDS = {"interim", "final", "speech-started", "utterance-end", "turn-resumed"}
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


@asynccontextmanager
async def flux_on_fake() -> AsyncIterator[SpeechToText]:
    async with FakeDeepgram(script=[UTTERANCE]) as fake:
        yield DeepgramFluxSTT(fake.api_key, fake.base_url)


CASES = [
    STTCase("deepgram", deepgram_on_fake, lambda: tone(800), UTTERANCE),
    STTCase("deepgram-flux", flux_on_fake, lambda: tone(800), UTTERANCE),
]


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


def sure_ends(events: list[TranscriptEvent]) -> list[TranscriptEvent]:
    """Finals that close an utterance for sure (a tentative one only says it probably did)."""
    return [event for event in finals(events) if event.speech_final and not event.tentative]


def heard(events: list[TranscriptEvent]) -> str:
    """The text the finals add up to: a `whole_turn` final restates the turn so far."""
    parts: list[str] = []
    for event in finals(events):
        parts = [event.text] if event.whole_turn else [*parts, event.text]
    return " ".join(parts)


async def test_silence_speech_silence_yields_exactly_one_speech_final_final(case: STTCase) -> None:
    async with case.open() as stt:
        events = await transcribe(stt, silence(500), case.speech(), silence(1500))
    assert len(sure_ends(events)) == 1
    assert heard(events) == case.words


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


async def test_a_tentative_end_is_confirmed_with_its_text_or_withdrawn(case: STTCase) -> None:
    """base.py: a tentative `speech_final` final is followed by a sure one with the same text,
    or withdrawn by `turn-resumed`; nothing else closes the utterance in between."""
    async with case.open() as stt:
        events = await transcribe(stt, silence(300), case.speech(), silence(1500))
    standing: TranscriptEvent | None = None
    for event in events:
        if event.kind == "turn-resumed":
            assert standing is not None, "turn-resumed withdrew nothing"
            standing = None
        elif event.kind == "final" and event.speech_final:
            if standing is not None and not event.tentative:
                assert event.text == standing.text
            standing = event if event.tentative else None
    assert standing is None, "a tentative end was never confirmed"


async def test_no_event_carries_empty_text_except_markers(case: STTCase) -> None:
    async with case.open() as stt:
        events = await transcribe(stt, silence(300), case.speech(), silence(1500))
    assert all(event.text for event in events if event.kind in ("interim", "final"))
