"""DeepgramFluxSTT on the real deepgram-sdk, pointed at the loopback FakeDeepgram's `/v2/listen`.

Tone bursts are speech to the fake; audio is sent faster than real time because the fake, like
Flux, keeps its turn timing on the audio timeline (tests/fakes/deepgram_flux.py). What Flux shares
with Nova (refused keys, bounded reconnects, cancellation) is in test_deepgram_listen.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from console.providers.base import ProviderError, TranscriptEvent
from console.providers.deepgram.flux import DeepgramFluxSTT
from tests.fakes.deepgram_fake import FakeDeepgram, silence, tone
from tests.integration.test_deepgram_listen import RecordingObserver, final_after_finalize, frames

pytestmark = pytest.mark.timeout(20)

FRAME = 160
BOOKING = "I'd like to book an appointment"
FIRST, REST = "I'd like to book", "an appointment for Tuesday"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram(script=[BOOKING, "My name is John Smith"]) as server:
        yield server


async def collect(stt: DeepgramFluxSTT, audio: AsyncIterator[bytes]) -> list[TranscriptEvent]:
    return [event async for event in stt.stream(audio)]


def utterance() -> tuple[bytes, ...]:
    return silence(300), tone(1000), silence(1500)


def turn_events(events: list[TranscriptEvent]) -> list[tuple[str, str, bool]]:
    """Everything but interims, as (kind, text, tentative)."""
    return [(e.kind, e.text, e.tentative) for e in events if e.kind != "interim"]


def sure_finals(events: list[TranscriptEvent]) -> list[str]:
    return [e.text for e in events if e.kind == "final" and not e.tentative]


async def test_a_turn_the_caller_resumed_maps_eager_resumed_eager_end_in_order() -> None:
    """150 ms of silence is enough for an EagerEndOfTurn at the default thresholds, not for an
    EndOfTurn: the caller goes on, Flux withdraws it (TurnResumed), and the turn ends later."""
    async with FakeDeepgram(script=[FIRST, REST]) as fake:
        stt = DeepgramFluxSTT(fake.api_key, fake.base_url)
        audio = frames(silence(300), tone(800), silence(150), tone(700), silence(1500))
        events = await collect(stt, audio)
    whole = f"{FIRST} {REST}"
    assert turn_events(events) == [
        ("speech-started", "", False),
        ("final", FIRST, True),
        ("turn-resumed", "", False),
        ("final", whole, True),
        ("final", whole, False),
    ]
    assert [info["event"] for info in fake.turn_infos if info["event"] != "Update"] == [
        "StartOfTurn",
        "EagerEndOfTurn",
        "TurnResumed",
        "EagerEndOfTurn",
        "EndOfTurn",
    ]
    finals = [e for e in events if e.kind == "final"]
    assert all(e.speech_final and e.whole_turn for e in finals)


async def test_updates_become_whole_turn_interims_that_never_repeat(fake) -> None:
    events = await collect(
        DeepgramFluxSTT(fake.api_key, fake.base_url),
        frames(silence(300), tone(2400), silence(1500)),
    )
    interims = [e.text for e in events if e.kind == "interim"]
    assert len(interims) >= 3 and all(BOOKING.startswith(text) for text in interims)
    assert all(a != b for a, b in zip(interims, interims[1:], strict=False))
    assert all(e.whole_turn for e in events if e.kind == "interim")
    assert sum(info["event"] == "Update" for info in fake.turn_infos) > len(interims)


async def test_the_socket_asks_for_flux_on_twilio_mulaw_with_the_thresholds(fake) -> None:
    stt = DeepgramFluxSTT(
        fake.api_key, fake.base_url, eot_threshold=0.8, eager_eot_threshold=0.4, eot_timeout_ms=3000
    )
    await collect(stt, frames(silence(200)))
    assert fake.listen_queries == [
        {"model": "flux-general-en", "encoding": "mulaw", "sample_rate": "8000",
         "eot_threshold": "0.8", "eager_eot_threshold": "0.4", "eot_timeout_ms": "3000"}
    ]  # fmt: skip


async def test_a_higher_eot_threshold_ends_the_turn_later_on_the_audio_clock() -> None:
    ends: dict[float, float] = {}
    for threshold in (0.7, 0.9):
        async with FakeDeepgram(script=[BOOKING]) as fake:
            stt = DeepgramFluxSTT(fake.api_key, fake.base_url, eot_threshold=threshold)
            await collect(stt, frames(silence(300), tone(1000), silence(1500)))
        [end] = [at for at, m in fake.recognizers[0].log if m.get("event") == "EndOfTurn"]
        ends[threshold] = end - 1.3  # silence after the speech
    assert 0.24 <= ends[0.7] <= 0.30  # Deepgram: "~260 ms end-of-turn detection"
    assert ends[0.9] - ends[0.7] >= 0.1


async def test_a_socket_dropped_mid_turn_reconnects_and_replays_the_words(fake) -> None:
    fake.opts.drop_after_speech_frames = 20  # 400 ms into the 1 s burst
    observer = RecordingObserver()
    stt = DeepgramFluxSTT(fake.api_key, fake.base_url, observer=observer, backoff_s=0.01)
    events = await collect(stt, frames(*utterance()))
    assert sure_finals(events) == [BOOKING]
    assert fake.drops == 1 and fake.listen_connections == 2
    [(provider, problem, fallback)] = observer.degradations
    assert (provider, fallback) == ("deepgram-flux", "reconnected") and "1011" in problem


async def test_a_drop_after_a_turn_replays_only_the_turn_in_progress(fake) -> None:
    first = silence(300) + tone(600) + silence(700)  # the turn ends at 1.16 s
    second = tone(600) + silence(1500)
    fake.opts.drop_after_speech_frames = 40  # 30 frames in the first burst, 10 in the second
    stt = DeepgramFluxSTT(fake.api_key, fake.base_url, backoff_s=0.01)
    events = await collect(stt, frames(first, second))
    assert sure_finals(events) == [BOOKING, "My name is John Smith"]
    [end] = [m for _, m in fake.recognizers[0].log if m.get("event") == "EndOfTurn"]
    settled = int(end["audio_window_end"] * 8000)  # the first socket's turn
    assert fake.listen_audio[1] == len(first + second) - settled


async def test_a_fatal_error_message_ends_the_socket_and_it_is_retried(fake) -> None:
    fake.opts.drop_after_speech_frames, fake.opts.drop_error_code = 20, "INTERNAL_SERVER_ERROR"
    observer = RecordingObserver()
    stt = DeepgramFluxSTT(fake.api_key, fake.base_url, observer=observer, backoff_s=0.01)
    events = await collect(stt, frames(*utterance()))
    assert sure_finals(events) == [BOOKING]
    [(_, problem, _)] = observer.degradations
    assert "INTERNAL_SERVER_ERROR" in problem


async def test_thresholds_deepgram_refuses_raise_provider_error_without_retrying(fake) -> None:
    stt = DeepgramFluxSTT(
        fake.api_key, fake.base_url, eot_threshold=0.6, eager_eot_threshold=0.8, backoff_s=0.5
    )  # eager above eot
    with pytest.raises(ProviderError, match="HTTP 400"):
        await collect(stt, frames(*utterance()))
    assert fake.listen_connections == 0


async def test_finalize_sends_force_end_turn_and_the_turn_ends_at_once(fake) -> None:
    """Only to settle a barge-in verdict: the words now, not ~260 ms of silence later."""
    event = await final_after_finalize(DeepgramFluxSTT(fake.api_key, fake.base_url), fake)
    assert (event.text, event.speech_final, event.tentative) == (BOOKING, True, False)
    assert fake.control_count("ForceEndTurn") == 1
    assert fake.turn_infos[-1]["event"] == "EndOfTurn"
    assert fake.turn_infos[-1]["trigger"] == "manual"


async def test_noise_starts_no_turn_and_yields_no_transcript() -> None:
    """Flux's StartOfTurn always has words (Deepgram's docs): a cough is not a turn."""
    async with FakeDeepgram(script=[""]) as server:
        stt = DeepgramFluxSTT(server.api_key, server.base_url)
        events = await collect(stt, frames(silence(300), tone(300), silence(1500)))
    assert events == []


async def test_audio_ending_mid_speech_still_yields_the_turn_before_the_stream_ends(fake) -> None:
    events = await collect(
        DeepgramFluxSTT(fake.api_key, fake.base_url), frames(silence(200), tone(600))
    )
    assert sure_finals(events) == [BOOKING]
    assert fake.control_count("CloseStream") == 1


async def test_silence_keeps_the_socket_open_while_the_audio_pauses(fake) -> None:
    """Flux has no KeepAlive message: a little silence, which is audio, goes instead."""
    fake.opts.idle_timeout_s = 0.5  # the fake closes idle sockets after 0.5 s

    async def paused_audio() -> AsyncIterator[bytes]:
        async for frame in frames(silence(200)):
            yield frame
        await asyncio.sleep(1.2)  # more than twice the fake's idle limit
        async for frame in frames(*utterance()):
            yield frame

    observer = RecordingObserver()
    stt = DeepgramFluxSTT(fake.api_key, fake.base_url, keepalive_s=0.1, observer=observer)
    events = await collect(stt, paused_audio())
    assert sure_finals(events) == [BOOKING]
    assert fake.listen_connections == 1 and fake.control_count("KeepAlive") == 0
    sent = len(silence(200) + b"".join(utterance()))
    assert fake.audio_bytes > sent  # the keep-alive silence
    assert observer.usages == [{"stt_seconds": pytest.approx(fake.audio_bytes / 8000)}]


def test_it_says_it_detects_turns_itself() -> None:
    assert DeepgramFluxSTT("key").detects_turns is True
