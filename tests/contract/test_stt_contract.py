"""The SpeechToText contract (base.py), run against every recognizer the console can use.

Each provider is a fixture parameter: Deepgram Nova and Flux on the real SDK against the loopback
fake, local Whisper on the real model, and the fallback wrapper after the cloud refused its key
(the local recognizer carries the call on). Audio goes in as the call feeds it: 20 ms mu-law
frames on an `AudioQueueReader`, not paced (providers must cope with a backlog).

To add a provider, write an async context manager that yields an `STTSubject` and add an `STTCase`
to CASES: `speech` is one utterance that provider recognises as SPEECH_WORDS (the fake Nova hears
energy and places the words by audio position; a real recogniser needs the real words), and
`max_wer` how far from them it may stray. What a recognizer that detects turns (Flux)
legitimately does differently is in the contract: a `tentative` end comes before the sure one,
and `whole_turn` texts restate the turn so far.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from console.providers.base import (
    AudioQueueReader,
    ProviderError,
    SpeechToText,
    TranscriptEvent,
)
from console.providers.wer import word_error_rate
from tests.contract import providers
from tests.contract.support import (
    RecordingObserver,
    cancel_after,
    closing,
    nothing_left_running,
)
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone
from tests.fakes.deepgram_positions import Phrase, timed_words, words_between
from tests.speech import speech_clip

pytestmark = pytest.mark.timeout(30)

FRAME = 160  # 20 ms of Twilio mu-law
KINDS = {"interim", "final", "speech-started", "utterance-end", "turn-resumed"}
# "It was the best of times", the first phrase of A Tale of Two Cities as read in the recording
# (its one internal pause is 160 ms: one utterance to the recognizers). Whisper tiny.en hears
# "It was the best of time." in it.
SPEECH_WORDS = "It was the best of times"
MAX_WER = 0.34  # tiny.en on 8 kHz phone audio: up to two words in six may differ
LEAD_MS = 500  # every stream opens with this much silence before the speech


def real_speech() -> bytes:
    return speech_clip("two_cities", 1.5, start_s=1.0)  # 1.47 s


def burst() -> bytes:
    """Speech to the fake Flux, whose turns take a script entry per burst of energy (it would
    split real speech at its short pauses and hand out an entry for each piece)."""
    return tone(1000)


@dataclass
class STTSubject:
    stt: SpeechToText
    observer: RecordingObserver
    released: Callable[[], Awaitable[None]] | None = None  # the backend saw the stream end


@dataclass(frozen=True)
class STTCase:
    name: str
    open: Callable[[], AbstractAsyncContextManager[STTSubject]]
    speech: Callable[[], bytes]  # one utterance the provider recognises
    max_wer: float = 0.0  # how far what it hears in `speech` may be from SPEECH_WORDS


# The fake Nova hears by energy and cuts the clip at its own endpoints; it gives each window the
# words said in it (deepgram_positions.py), so any cut hears every word once.
SPOKEN = timed_words([Phrase(LEAD_MS / 1000, LEAD_MS / 1000 + 1.47, SPEECH_WORDS)])


def by_position(_connection: int, start_s: float, end_s: float) -> str:
    return words_between(SPOKEN, start_s, end_s)


@asynccontextmanager
async def on_fake(build: Callable[..., SpeechToText], **fake: Any) -> AsyncIterator[STTSubject]:
    async with FakeDeepgram(**fake) as server:
        observer = RecordingObserver()

        async def released() -> None:
            await server.wait_for(lambda: server.listen_open == 0, 2.0)

        yield STTSubject(build(server.api_key, server.base_url, observer), observer, released)


def nova() -> AbstractAsyncContextManager[STTSubject]:
    return on_fake(providers.nova, transcribe=by_position)


def flux() -> AbstractAsyncContextManager[STTSubject]:
    return on_fake(providers.flux, script=[SPEECH_WORDS])


@asynccontextmanager
async def whisper() -> AsyncIterator[STTSubject]:
    observer = RecordingObserver()
    yield STTSubject(providers.LocalWhisperSTT(observer=observer), observer)


@asynccontextmanager
async def fallback_after_refused_key() -> AsyncIterator[STTSubject]:
    async with FakeDeepgram() as fake:
        observer = RecordingObserver()
        cloud = providers.nova("not-the-key", fake.base_url, observer)
        local = providers.LocalWhisperSTT(observer=observer)
        yield STTSubject(providers.FallbackSTT(cloud, local, observer), observer)


CASES = [
    STTCase("deepgram-nova", nova, real_speech),
    STTCase("deepgram-flux", flux, burst),
    STTCase("local-whisper", whisper, real_speech, MAX_WER),
    STTCase("fallback-to-local", fallback_after_refused_key, real_speech, MAX_WER),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> STTCase:
    """Module-scoped, so pytest runs each provider's tests one after the other. (Whisper
    loads its model on the first decode, once per process: ~0.7 s.)"""
    chosen: STTCase = request.param
    return chosen


# --- feeding and reading -------------------------------------------------------------------------


def queued(*parts: bytes, ended: bool = True) -> AudioQueueReader:
    """Twilio-sized frames, all queued at once (as a call's backlog would be)."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    audio = b"".join(parts)
    for start in range(0, len(audio), FRAME):
        queue.put_nowait(audio[start : start + FRAME])
    if ended:
        queue.put_nowait(None)
    return AudioQueueReader(queue)


async def transcribe(stt: SpeechToText, *parts: bytes) -> list[TranscriptEvent]:
    async with closing(stt.stream(queued(*parts))) as events:
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


# --- streaming shape ----------------------------------------------------------------------------


async def test_an_utterance_streams_in_the_declared_order_to_one_final_with_its_words(
    case: STTCase,
) -> None:
    """Known kinds only; the onset before any words; every interim before the final that closes
    the utterance for sure, and exactly one such final, with the words; transcripts never empty
    (an empty final may only close an utterance); a tentative end (base.py) confirmed with its
    text or withdrawn by `turn-resumed`; `at` monotonic receipt times within the stream."""
    async with case.open() as subject:
        before = time.monotonic()
        events = await transcribe(subject.stt, silence(LEAD_MS), case.speech(), silence(1500))
        after = time.monotonic()
    kinds = [event.kind for event in events]
    assert events and set(kinds) <= KINDS, kinds
    assert len(sure_ends(events)) == 1, kinds
    assert word_error_rate([SPEECH_WORDS], [heard(events)]) <= case.max_wer, heard(events)
    assert kinds.index("speech-started") < kinds.index("final"), kinds
    assert "interim" not in kinds[events.index(sure_ends(events)[0]) + 1 :], kinds
    assert all(event.text for event in events if event.kind == "interim")
    assert all(event.text or event.speech_final for event in finals(events))
    assert_tentative_ends_are_settled(events)
    stamps = [event.at for event in events]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after


def assert_tentative_ends_are_settled(events: list[TranscriptEvent]) -> None:
    """A tentative `speech_final` final is followed by a sure one with the same text, or
    withdrawn by `turn-resumed`; nothing else closes the utterance in between."""
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


async def test_silence_alone_yields_no_words_and_the_stream_still_ends(case: STTCase) -> None:
    async with case.open() as subject:
        events = await asyncio.wait_for(transcribe(subject.stt, silence(1500)), 10)
    assert [event for event in events if event.text] == []
    assert finals(events) == []


# --- cancellation ---------------------------------------------------------------------------------


async def test_cancelling_the_consumer_mid_utterance_stops_the_stream_and_all_its_tasks(
    case: STTCase,
) -> None:
    async with case.open() as subject, nothing_left_running():
        first = asyncio.Event()
        audio = queued(silence(LEAD_MS), case.speech(), ended=False)  # the caller is still talking

        async def consume() -> None:
            async for _event in subject.stt.stream(audio):
                first.set()

        task = await cancel_after(first, consume())
        assert task.done() and task.cancelled(), "cancellation must end the stream promptly"
        if subject.released is not None:
            await subject.released()


async def test_closing_the_stream_mid_utterance_ends_it_cleanly(case: STTCase) -> None:
    async with case.open() as subject, nothing_left_running():
        audio = queued(silence(LEAD_MS), case.speech(), ended=False)
        async with asyncio.timeout(10), closing(subject.stt.stream(audio)) as events:
            first = await anext(events)
        assert first.kind in KINDS
        if subject.released is not None:
            await subject.released()


# --- the errors each declares -----------------------------------------------------------------


async def cloud_refuses_the_key(build: Callable[..., SpeechToText]) -> None:
    async with FakeDeepgram() as fake:
        stt = build("not-the-key", fake.base_url)
        with pytest.raises(ProviderError, match="refused the API key") as raised:
            await transcribe(stt, silence(200), burst())
    assert "not-the-key" not in str(raised.value)


async def cloud_server_is_dead(build: Callable[..., SpeechToText]) -> None:
    stt = build("any-key", providers.DEAD_URL)
    with pytest.raises(ProviderError, match="reconnects failed"):
        await transcribe(stt, silence(200), burst())


async def whisper_decode_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decode that breaks loses that utterance, says so, and the stream goes on."""

    def broken(pcm: bytes) -> str:
        raise RuntimeError("decoder crashed")

    monkeypatch.setattr(providers.local_stt, "decode_pcm", broken)
    observer = RecordingObserver()
    stt = providers.LocalWhisperSTT(observer=observer)
    events = await transcribe(stt, silence(LEAD_MS), real_speech(), silence(800))
    assert [event.kind for event in events] == ["speech-started", "utterance-end"]
    lost = ("local-stt", "decode failed: decoder crashed", "utterance lost")
    assert observer.degradations == [lost]


async def fallback_tells_the_call_it_degraded(monkeypatch: pytest.MonkeyPatch) -> None:
    async with fallback_after_refused_key() as subject:
        await transcribe(subject.stt, silence(300))
    [(kind, problem, instead)] = subject.observer.degradations
    assert (kind, instead) == ("stt", "local recognizer") and "refused the API key" in problem


FAILURES = {
    "nova-refused-key-raises-provider-error": lambda _: cloud_refuses_the_key(providers.nova),
    "flux-refused-key-raises-provider-error": lambda _: cloud_refuses_the_key(providers.flux),
    "nova-dead-server-raises-provider-error": lambda _: cloud_server_is_dead(providers.nova),
    "flux-dead-server-raises-provider-error": lambda _: cloud_server_is_dead(providers.flux),
    "whisper-failed-decode-is-a-degrade-event": whisper_decode_fails,
    "fallback-refused-cloud-is-a-degrade-event": fallback_tells_the_call_it_degraded,
}


@pytest.mark.parametrize("failure", list(FAILURES.values()), ids=list(FAILURES))
async def test_a_failure_surfaces_as_the_provider_declares(
    failure: Callable[[pytest.MonkeyPatch], Awaitable[None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with nothing_left_running():
        await failure(monkeypatch)


# --- which one a call gets ------------------------------------------------------------------


@pytest.mark.parametrize("cloud", [True, False], ids=["with-deepgram-key", "without"])
async def test_the_registry_gives_a_call_the_recognizer_of_the_tier_it_reports(
    cloud: bool,
) -> None:
    registry = providers.registry(cloud=cloud)
    try:
        stt = registry.stt()
        if cloud:
            assert isinstance(stt, providers.FallbackSTT)
            assert isinstance(stt.primary, providers.DeepgramSTT)
            assert isinstance(stt.secondary, providers.LocalWhisperSTT)
        else:
            assert isinstance(stt, providers.LocalWhisperSTT)
        assert stt.tier == registry.tiers()["stt"].kind == ("cloud" if cloud else "local")
    finally:
        await registry.aclose()
