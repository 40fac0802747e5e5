"""The turn-taking bench's measures of one over-talk event, taken from what one caller received.

Runs in the caller worker, next to the callers' raw data (every received frame, its place on the
caller's speaker, every clear), so only a small record per event leaves the process. Definitions
are in bench/turntaking.py's docstring.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

from turntaking_scenario import FRAME_BYTES, LONG_REPLY, REAL_KINDS, sentence_texts

from tests.fakes.deepgram_fake import tts_audio

SAMPLE_RATE = 8000
SILENCE_RUN = re.compile(rb"\xff{16,}")  # 2 ms+ of mu-law zero: the fake's noise never has it


@dataclass(frozen=True)
class FrameId:
    role: str  # "reply" (the long reply), "answer", "filler"
    sentence: int
    index: int  # frame number inside that sentence's audio


class FrameTable:
    """Every frame the agent may send, by content: the fake TTS makes each sentence's audio
    unique noise (`tts_audio`), so a received frame names its sentence and its place in it."""

    def __init__(self, ms_per_char: float) -> None:
        self.audio: dict[tuple[str, int], bytes] = {}
        self._ids: dict[bytes, FrameId] = {}
        for role, texts in sentence_texts().items():
            for number, text in enumerate(texts):
                audio = tts_audio(text, ms_per_char)
                self.audio[role, number] = audio
                for index in range(len(audio) // FRAME_BYTES):
                    frame = audio[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
                    self._ids[frame] = FrameId(role, number, index)

    def identify(self, frame: bytes) -> FrameId | None:
        return self._ids.get(frame)

    def reply_audio(self) -> list[bytes]:
        return [self.audio["reply", n] for n in range(len(LONG_REPLY))]


@dataclass(frozen=True)
class Heard:
    """One caller's raw record (seconds since its call started; samples on its speaker)."""

    received_at: list[float]
    payloads: list[bytes]
    placed: list[int]  # speaker sample where each received frame was queued to play
    clears: list[float]
    cuts: list[tuple[int, int]]  # per clear: frames received before it, speaker end after it
    heard: bytes  # what the speaker played (playout.heard)


@dataclass(frozen=True)
class Window:
    """One turn's stretch of the call: the long reply's first frame up to the next question."""

    kind: str
    reply_start: float
    onset: float  # first frame of the over-talk sent
    overtalk_end: float
    end: float


def measure(heard: Heard, table: FrameTable, window: Window) -> dict[str, Any]:
    first = bisect.bisect_left(heard.received_at, window.reply_start)
    last = bisect.bisect_left(heard.received_at, window.end)
    clears = [(at, cut) for at, cut in zip(heard.clears, heard.cuts, strict=True)
              if window.onset <= at < window.end]
    ids = [table.identify(p) for p in heard.payloads[first:last]]
    result: dict[str, Any] = {
        "kind": window.kind,
        "barge_in_ms": round((clears[0][0] - window.onset) * 1000, 1) if clears else None,
        "clears": len(clears),
        "overtalk_ms": round((window.overtalk_end - window.onset) * 1000),
        "frames_after_clear": _stale(ids, first, clears, window.kind) if clears else None,
        "resumed": bool(clears) and _reply_after(ids[clears[0][1][0] - first :]),
        "answered": _answered(ids[bisect.bisect_left(heard.received_at, window.onset) - first :]),
        "unrecognised_frames": sum(1 for i in ids if i is None),
    }
    result.update(_reply_heard(heard, table, first, last, ids))
    return result


def _stale(ids: list[FrameId | None], first: int, clears: list[tuple[float, tuple[int, int]]],
           kind: str) -> int:
    """Frames received after a clear that belong to audio the server had already cancelled.
    Real interruption or command: any frame of the long reply. Cough or backchannel: a frame of
    the long reply that does not belong to a run restarting a sentence from its first frame
    after that clear (the tail of the cut sentence, say)."""
    stale = 0
    bounds = [cut[0] - first for _, cut in clears] + [len(ids)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        segment = ids[max(0, start) : end]
        if kind in REAL_KINDS:
            stale += sum(1 for i in segment if i is not None and i.role == "reply")
        else:
            stale += _off_run(segment)
    return stale


def _off_run(segment: list[FrameId | None]) -> int:
    """Reply frames that neither start a sentence nor follow the previous frame of one."""
    stale, previous = 0, None
    for frame in segment:
        if frame is None or frame.role != "reply":
            continue
        follows = previous is not None and (previous.sentence, previous.index + 1) == (
            frame.sentence, frame.index)
        if frame.index == 0 or follows:
            previous = frame
        else:
            stale += 1
    return stale


def _reply_after(frames: list[FrameId | None]) -> bool:
    """The long reply went on after the clear: a sentence of it started again (a cut sentence's
    tail does not count; it is stale audio)."""
    return any(i is not None and i.role == "reply" and i.index == 0 for i in frames)


def _answered(after_onset: list[FrameId | None]) -> bool:
    """A new reply reached the caller after the over-talk began: agent audio that is neither
    the long reply nor a holding phrase."""
    return any(i is None or i.role == "answer" for i in after_onset)


def _reply_heard(heard: Heard, table: FrameTable, first: int, last: int,
                 ids: list[FrameId | None]) -> dict[str, Any]:
    """What of the long reply the caller heard in this window. Words count by content (the
    audio the speaker played, back to back: a late frame delays a word, it does not lose it);
    silence by time, on the speaker's own record."""
    content = b"".join(_played(heard, k) for k in range(first, last))
    counts = [content.count(audio) for audio in table.reply_audio()]
    span = _reply_span(heard, first, ids)
    return {
        "lost_sentences": [n for n, count in enumerate(counts) if count == 0],
        "repeated_sentences": [n for n, count in enumerate(counts) if count > 1],
        "longest_silence_ms": _longest_silence_ms(heard.heard[span[0] : span[1]])
        if span else None,
    }


def _played(heard: Heard, k: int) -> bytes:
    """The part of received frame k that played: all of it, unless a later clear cut it."""
    return heard.payloads[k][: max(0, _speaker_end_after(heard, k) - heard.placed[k])]


def _speaker_end_after(heard: Heard, k: int) -> int:
    """Where the speaker's queue ended after the first clear that came after frame k arrived
    (nothing queued past it played); no such clear: no limit."""
    for frames_before, speaker_end in heard.cuts:
        if frames_before > k:
            return speaker_end
    return heard.placed[k] + FRAME_BYTES


def _reply_span(heard: Heard, first: int, ids: list[FrameId | None]) -> tuple[int, int] | None:
    """Speaker samples from the reply's first frame to the end of its last frame that played
    (a clear after it may have cut it short)."""
    mine = [first + k for k, i in enumerate(ids) if i is not None and i.role == "reply"]
    if not mine:
        return None
    last = mine[-1]
    end = min(heard.placed[last] + FRAME_BYTES, _speaker_end_after(heard, last))
    return heard.placed[mine[0]], end


def _longest_silence_ms(played: bytes) -> float | None:
    if not played:
        return None
    runs = [m.end() - m.start() for m in SILENCE_RUN.finditer(played)]
    return round(max(runs, default=0) * 1000 / SAMPLE_RATE, 1)
