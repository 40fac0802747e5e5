"""One call's recorder: a MediaSender in front of the call's real one (what was sent to the caller
is the right channel) and a tap on caller frames (the left channel).

The right channel is placed on a model of the caller's playout clock: the call's sample clock
starts with the caller's first frame (sample 0 of the left channel; `_align`), a frame sent at
sample `now` plays at `now` or after the audio queued before it, and `clear` drops what had not
played. Audio is handed to the writer once settled (played, or arrived), about once a
second (the service's flush), so a crash loses at most that second.
"""

from __future__ import annotations

import time

from console.audio_codec import FRAME_BYTES, SAMPLE_RATE
from console.recording.tracks import CallerTrack, HeardTrack
from console.recording.writer import FileHandle, RecordingWriter
from console.streams import MediaSender

# A caller stream silent for this long has stalled (Twilio sends a frame every 20 ms, silence
# included): the gap becomes silence so the right channel is not held back in memory.
STALL_SAMPLES = SAMPLE_RATE  # 1 s
# How much earlier than the stream's start the call's clock may be put by the caller's frames
# (CallRecorder._align): the start is seen a little late (loop and parsing delays: ms, tens under
# load); a peer sending faster than real time must not move it further.
MAX_ALIGN_S = 0.1
# A redacted span is widened by one frame each side: the caller's frames reach us up to a frame
# later or earlier than the wall clock the span was measured on.
MUTE_PAD_SAMPLES = FRAME_BYTES


class _CallOver:
    """What a finished recorder forwards to. CallEnded is the session's last word (its socket is
    closed by then), and a finished recorder is kept a while for late redactions: holding the
    real sender would keep the socket, the session and its queued audio alive with it (200
    finished calls' worth, found by the hostile-load bench)."""

    async def send_audio(self, mulaw: bytes) -> None:
        return None

    async def send_mark(self, name: str) -> None:
        return None

    async def send_clear(self) -> None:
        return None

    async def close(self, reason: str) -> None:
        return None


class CallRecorder:
    def __init__(self, sender: MediaSender, writer: RecordingWriter, handle: FileHandle,
                 started: tuple[float, float], announced: bool = False) -> None:
        self._sender: MediaSender = sender
        self._writer = writer
        self.handle = handle
        self.clock = time.monotonic  # the call's clock (tests and benches drive their own)
        self._t0, wall0 = started  # (time.monotonic(), time.time()) at sample 0
        self._earliest_t0 = self._t0 - MAX_ALIGN_S
        self._wall_offset = wall0 - self._t0
        self.left = CallerTrack()
        self.right = HeardTrack()
        self._spans: list[tuple[int, int]] = []
        # With a recording announcement the caller is recorded only once it has played: from
        # where the first line's mark plays (None: not known yet, so not recorded yet).
        self.caller_from: int | None = None if announced else 0
        self.finished = False

    @property
    def call_sid(self) -> str:
        return self.handle.call_sid

    @property
    def wall0(self) -> float:
        """Sample 0 on the wall clock (the clock of events' `at`)."""
        return self._t0 + self._wall_offset

    def now(self) -> int:
        return int((self.clock() - self._t0) * SAMPLE_RATE)

    def _align(self) -> None:
        """Frame k left the caller k * 20 ms after its first and cannot arrive before then: the
        earliest (arrival - k * 20 ms) is when the caller's clock started, as this process sees
        it. The stream's start only bounds it from above (it is handled a little late)."""
        candidate = self.clock() - self.left.end / SAMPLE_RATE
        if candidate < self._t0:
            self._t0 = max(candidate, self._earliest_t0)

    # --- MediaSender: what the caller hears ---------------------------------------------------
    async def send_audio(self, mulaw: bytes) -> None:
        if not self.finished:
            self.right.add(mulaw, self.now())
        await self._sender.send_audio(mulaw)

    async def send_mark(self, name: str) -> None:
        if self.caller_from is None and self.right.end > 0:
            self.caller_from = self.right.end  # the announcement (the first line) ends here
        await self._sender.send_mark(name)

    async def send_clear(self) -> None:
        if not self.finished:
            self.right.clear(self.now())
        await self._sender.send_clear()

    async def close(self, reason: str) -> None:
        await self._sender.close(reason)

    def reconnected(self, sender: MediaSender) -> CallRecorder:
        """The call came back on a new stream: what it hears now goes out through `sender`."""
        self._sender = sender
        return self

    # --- the caller ---------------------------------------------------------------------------
    def tap(self, leg: str, mulaw: bytes) -> None:
        """A session audio tap: caller frames only (agent frames come through send_audio,
        where a `clear` can follow them)."""
        if leg == "caller" and not self.finished:
            self._align()
            self.left.add(mulaw)

    def mute(self, started: float, ended: float) -> tuple[int, int]:
        """Mute the caller between two epoch times: in memory now, in the file for what is
        already written. Returns the span in samples."""
        span = (self._sample_at(started) - MUTE_PAD_SAMPLES,
                self._sample_at(ended) + MUTE_PAD_SAMPLES)
        self._spans.append(span)
        self.left.mute(*span)
        if span[0] < self.left.base:
            self._writer.mute(self.handle, span[0], min(span[1], self.left.base))
        return span

    def _sample_at(self, epoch: float) -> int:
        return round((epoch - self.wall0) * SAMPLE_RATE)

    # --- handing audio to the writer ----------------------------------------------------------
    def flush(self) -> None:
        """Hand the writer what has settled: both channels up to where the caller's frames
        have come and the playout clock has passed."""
        now = self.now()
        if now - self.left.end > STALL_SAMPLES:
            self.left.skip_to(now)
        self._hand_over(min(now, self.left.end))

    def finish(self) -> None:
        """The call ended: audio queued but not yet played was never heard."""
        now = self.now()
        self.right.clear(now)
        self._hand_over(max(self.left.end, self.right.end))
        self.finished = True
        self._sender = _CallOver()

    def _hand_over(self, upto: int) -> None:
        for span in self._spans:
            self.left.mute(*span)  # frames that arrived after the span was announced
        self.left.mute(0, upto if self.caller_from is None else self.caller_from)
        left, right = self.left.take(upto), self.right.take(upto)
        if left:
            self._writer.append(self.handle, left, right)
