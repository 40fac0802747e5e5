"""Nothing inside a call grows without bound: caller audio waiting for a recognizer keeps the newest
and counts what it dropped (once per episode), hand-overs between tasks make the producer wait and
lose nothing, and a local recognizer that falls behind merges, then drops, its oldest utterances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from console.calls.ear import AUDIO_QUEUE_FRAMES, Ear
from console.calls.metrics import TurnClock
from console.calls.pacing import Pacer
from console.calls.reply import SENTENCES_AHEAD, AgentReply
from console.providers.base import AudioQueueReader, TranscriptEvent
from console.providers.deepgram import listen as deepgram_listen
from console.providers.deepgram.stt import DeepgramSTT
from console.providers.queues import REPORT_EVERY_S, Inbox, NewestAudio
from console.providers.utterance_backlog import MAX_WAITING, UtteranceBacklog
from tests.unit.session_fakes import RecordingSender


def frame(number: int) -> bytes:
    return number.to_bytes(4, "big") * 40  # 160 bytes that say which frame they are


def number_of(chunk: bytes) -> int:
    return int.from_bytes(chunk[:4], "big")


class Deaf:
    """A recognizer that has stopped reading its audio (its service stalled, or it failed)."""

    def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        raise AssertionError("not listened to in these tests")


class Reports(list[tuple[str, str, str]]):
    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        self.append((provider, problem, fallback))

    def usage(self, **_amounts: float) -> None:
        pass


# ---- caller audio: the newest is kept ---------------------------------------------------------


async def test_a_full_audio_queue_drops_its_oldest_frames_keeps_the_newest_and_counts_them():
    queue = NewestAudio(5)
    for number in range(12):
        queue.put_nowait(frame(number))
    queue.put_nowait(None)
    kept = [number_of(chunk) async for chunk in AudioQueueReader(queue)]
    assert kept == [8, 9, 10, 11] and queue.dropped == 8  # the end marker took the 5th place


async def test_a_drop_episode_is_reported_once_when_the_reader_catches_up():
    reports: list[int] = []
    queue = NewestAudio(3, reports.append)
    for number in range(10):
        queue.put_nowait(frame(number))
    assert reports == []  # not per frame
    reader = AudioQueueReader(queue)
    await reader.read_batch(10_000)
    assert reports == [7]
    queue.put_nowait(frame(10))  # room again: no new episode
    await reader.read_batch(10_000)
    assert reports == [7]


def test_a_reader_that_never_comes_back_still_gets_its_drops_reported_every_few_seconds():
    now = [0.0]
    reports: list[int] = []
    queue = NewestAudio(2, reports.append, clock=lambda: now[0])
    for number in range(6):  # 4 dropped at t=0
        queue.put_nowait(frame(number))
    now[0] = REPORT_EVERY_S
    queue.put_nowait(frame(6))
    assert reports == [5]
    queue.put_nowait(None)
    queue.report()  # the call ends: the open episode is told too
    assert reports == [5, 1] and queue.dropped == 6


def test_nothing_is_queued_after_the_end_of_the_audio():
    queue = NewestAudio(2)
    queue.put_nowait(frame(1))
    queue.put_nowait(None)
    queue.put_nowait(frame(2))
    queue.put_nowait(frame(3))
    assert queue.qsize() == 2 and queue.get_nowait() == frame(1) and queue.get_nowait() is None


def test_a_recognizer_that_stops_reading_leaves_the_ears_queue_at_its_bound_and_says_so_once():
    dropped: list[int] = []
    ear = Ear(Deaf(), on_dropped=dropped.append)  # type: ignore[arg-type]
    sent = 3 * AUDIO_QUEUE_FRAMES
    for number in range(sent):
        ear.hear(frame(number), number * 0.02)
    assert ear.frames_waiting == AUDIO_QUEUE_FRAMES
    assert ear.frames_dropped == sent - AUDIO_QUEUE_FRAMES
    ear.close()
    assert dropped == [sent - AUDIO_QUEUE_FRAMES + 1]  # and one for the end marker's place


async def test_audio_from_another_source_waiting_for_a_stalled_deepgram_socket_stays_bounded():
    reports = Reports()
    sent = 3 * deepgram_listen.AUDIO_LIMIT

    async def caller() -> AsyncIterator[bytes]:
        for number in range(sent):
            yield frame(number)

    session = deepgram_listen._ListenSession(DeepgramSTT("key", observer=reports), caller())
    await session._pump()  # nothing sends: the socket takes no audio
    queued = session._queue
    assert queued.qsize() == deepgram_listen.AUDIO_LIMIT and queued.dropped > sent // 2
    assert len(reports) == 1 and reports[0][0] == "deepgram-stt"
    assert number_of(queued.get_nowait()) == sent - deepgram_listen.AUDIO_LIMIT + 1


# ---- hand-overs: the producer waits, nothing is lost --------------------------------------------


async def test_a_full_inbox_makes_its_producer_wait_and_loses_nothing():
    inbox: Inbox[int] = Inbox(3)
    produced: list[int] = []

    async def producer() -> None:
        for number in range(10):
            await inbox.put(number)
            produced.append(number)
        inbox.put_final(-1)

    task = asyncio.create_task(producer(), name="producer")
    await asyncio.sleep(0)  # one loop turn: the producer runs until it must wait
    assert produced == [0, 1, 2] and inbox.qsize() == 3
    received = [await inbox.get() for _ in range(11)]
    await task
    assert received == [*range(10), -1]


def test_an_end_marker_fits_into_a_full_inbox():
    inbox: Inbox[str] = Inbox(1)
    inbox.put_final("error")
    inbox.put_final("end")
    assert inbox.qsize() == 2


class Stuck:
    """A TTS that never finishes its first sentence."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self.started.set()
        await asyncio.Event().wait()
        yield b""


async def test_a_runaway_model_is_paused_a_few_sentences_ahead_of_speech():
    read = 0

    async def runaway() -> AsyncIterator[str]:
        nonlocal read
        for number in range(1000):
            read += 1
            yield f"Sentence number {number}. "

    tts = Stuck()
    reply = AgentReply(tts=tts, pacer=Pacer(RecordingSender()), clock=TurnClock())
    playing = asyncio.create_task(reply.play_tokens(runaway()), name="reply")
    await tts.started.wait()
    for _ in range(50):  # let the model run for as long as it may
        await asyncio.sleep(0)
    playing.cancel()
    assert read <= SENTENCES_AHEAD + 3  # the one being spoken, one in the chunker, one waiting


# ---- the local recognizer's backlog -----------------------------------------------------------

SECOND = 16_000  # bytes of 8 kHz PCM16


def utterance(number: int, seconds: float = 1.0) -> bytes:
    return number.to_bytes(4, "big") * int(seconds * SECOND / 4)


async def drain(backlog: UtteranceBacklog) -> list[tuple[str, bytes]]:
    backlog.end()
    jobs = []
    while (job := await backlog.take()) is not None:
        jobs.append(job)
    return jobs


async def test_a_few_waiting_utterances_are_each_decoded_on_their_own():
    backlog = UtteranceBacklog(20 * SECOND)
    for number in range(MAX_WAITING):
        backlog.add_final(utterance(number))
    jobs = await drain(backlog)
    assert jobs == [("final", utterance(number)) for number in range(MAX_WAITING)]


async def test_a_flood_of_utterances_is_merged_oldest_first_then_dropped_oldest_first():
    backlog = UtteranceBacklog(20 * SECOND)
    for number in range(50):
        backlog.add_final(utterance(number))
    jobs = await drain(backlog)
    assert len(jobs) == MAX_WAITING  # not 50 decodes
    audio = b"".join(pcm for _, pcm in jobs)
    assert audio == b"".join(utterance(number) for number in range(30, 50))  # the newest 20 s
    assert backlog.dropped == 30 and backlog.dropped_bytes == 30 * SECOND


async def test_a_partial_is_only_queued_while_nothing_else_waits():
    backlog = UtteranceBacklog(20 * SECOND)
    backlog.add_partial(utterance(1))
    backlog.add_partial(utterance(2))
    backlog.add_final(utterance(3))
    assert await drain(backlog) == [("interim", utterance(1)), ("final", utterance(3))]
