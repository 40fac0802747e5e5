"""A call whose recognizer is gone, with nothing behind it: the operator is alerted, the caller
is told and kept company while nobody else has the call, and their audio is not queued."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from console.calls import deaf
from console.providers.base import ProviderError, TranscriptEvent
from tests.unit.session_fakes import make_harness


class DyingSTT:
    """A recognizer that gives up at once, as Deepgram does on a refused key."""

    tier = "test"

    async def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        raise ProviderError("Deepgram refused the API key")
        yield  # an async generator, like every recognizer


@pytest.fixture(autouse=True)
def quick_company(monkeypatch):
    monkeypatch.setattr(deaf, "DEAF_PAUSE_S", 0.05)


async def deaf_call():
    h = make_harness()
    h.session.deps.stt = h.session.ear._stt = DyingSTT()
    await h.session.begin()
    return h


def said(h, text: str) -> int:
    h.echo_marks()  # the far side plays what it is sent
    return h.tts.texts.count(text)


async def test_a_deaf_call_alerts_the_operator_and_tells_the_caller_a_person_is_coming():
    h = await deaf_call()
    await h.until(lambda: said(h, "Please stay on the line.") >= 2)  # company, again and again
    first = h.tts.texts.index("Sorry, I can't hear you right now.")
    assert h.tts.texts[first + 1] == "Please stay on the line: a person is coming."
    alert = h.of_kind("AlertRaised")
    assert [a.level for a in alert] == ["critical"] and "take over" in alert[0].message
    assert h.of_kind("ProviderDegraded")[0].provider == "stt"
    await h.session.on_stop("test")


async def test_caller_audio_of_a_deaf_call_is_dropped_and_counted_not_queued():
    h = await deaf_call()
    await h.until(lambda: h.of_kind("AlertRaised"))
    for _ in range(500):  # 10 s of the caller talking to nobody
        h.session.on_media(b"\xff" * 160)
    assert h.session.ear._audio.qsize() == 0
    await h.session.on_stop("test")
    assert h.of_kind("AudioDropped")[0].frames >= 500


async def test_company_starts_again_from_the_first_line_when_a_person_hands_back():
    h = await deaf_call()
    await h.until(lambda: said(h, "Please stay on the line.") >= 1)
    await h.session.operator.take_over()
    before = len(h.tts.texts)
    h.session.operator.hand_back()
    await h.until(lambda: len(h.tts.texts) > before)
    assert h.tts.texts[before] == "Sorry, I can't hear you right now."
    await h.session.on_stop("test")
