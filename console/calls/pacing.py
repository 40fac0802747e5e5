"""Real-time playout of agent audio to Twilio.

Twilio plays whatever it has buffered, so we send 20 ms frames on a real-time clock at most
`lead_s` (100 ms) ahead of playout: enough to ride out scheduling hiccups, little enough that a
barge-in `clear` leaves at most 100 ms already on the far side. Frames carry the generation they
were queued in; `clear()` bumps the generation under the send lock, so no frame of a cleared reply
can reach the wire after the `clear` message.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from console.streams import MediaSender

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_S = 0.020
SILENCE = b"\xff"
# A frame that was ready but went out this long after the far side needed it left a gap the
# caller could hear.
LATE_S = 0.040


@dataclass(frozen=True)
class _Frame:
    audio: bytes
    generation: int
    queued_at: float


@dataclass(frozen=True)
class _Mark:
    name: str
    generation: int


class Pacer:
    def __init__(
        self,
        sender: MediaSender,
        *,
        lead_s: float = 0.100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._lead_s = lead_s
        self._clock = clock
        self._queue: deque[_Frame | _Mark] = deque()
        self._wakeup = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._partial = b""
        self.generation = 0
        self.playout_end = 0.0  # when the far side finishes what we have sent so far
        self.frames_sent = 0
        self.frames_enqueued = 0
        self.late_frames = 0
        self.worst_lateness_s = 0.0
        self.on_frame_sent: Callable[[float, bytes], None] | None = None
        self.on_mark_sent: Callable[[str, float], None] | None = None

    # --- queueing (called by the reply pipeline) -------------------------------------------
    def enqueue_audio(self, mulaw: bytes) -> None:
        """Queue audio of any length; it is cut into 160-byte frames, the remainder kept for the
        next call so sentence audio joins without clicks of padding."""
        data = self._partial + mulaw
        whole = len(data) - len(data) % FRAME_BYTES
        for start in range(0, whole, FRAME_BYTES):
            frame = data[start : start + FRAME_BYTES]
            self._queue.append(_Frame(frame, self.generation, self._clock()))
            self.frames_enqueued += 1
        self._partial = data[whole:]
        self._wakeup.set()

    def end_segment(self, mark_name: str | None = None) -> None:
        """Pad the leftover partial frame with silence and, optionally, queue a mark after it."""
        if self._partial:
            self.enqueue_audio(SILENCE * (FRAME_BYTES - len(self._partial)))
        if mark_name is not None:
            self._queue.append(_Mark(mark_name, self.generation))
        self._wakeup.set()

    # --- state -------------------------------------------------------------------------------
    def is_playing(self, now: float | None = None) -> bool:
        """True while queued or sent audio has not finished playing at the far end."""
        now = self._clock() if now is None else now
        return bool(self._queue) or self.playout_end > now

    def frames_played(self, now: float | None = None) -> int:
        """Frames (by enqueue index) the caller has heard by `now`, on our playout clock."""
        now = self._clock() if now is None else now
        unplayed = max(0.0, self.playout_end - now) / FRAME_S
        return max(0, self.frames_sent - int(unplayed + 0.999))

    def played_through(self) -> None:
        """Twilio echoed the mark after the last queued audio: the far side has played it all,
        whatever our own playout estimate says."""
        if not self._queue:
            self.playout_end = min(self.playout_end, self._clock())

    # --- control -----------------------------------------------------------------------------
    async def clear(self) -> None:
        """Drop everything queued and tell Twilio to drop its buffer. Urgent: jumps the queue."""
        self.generation += 1
        self._queue.clear()
        self._partial = b""
        self.frames_enqueued = self.frames_sent
        async with self._send_lock:
            await self._sender.send_clear()
            self.playout_end = min(self.playout_end, self._clock())

    # --- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = self._queue[0]
            if isinstance(item, _Frame):
                await self._wait_for_slot()
            if self._queue and self._queue[0] is item:
                self._queue.popleft()
                await self._send(item)

    async def _wait_for_slot(self) -> None:
        delay = self.playout_end - self._lead_s - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _send(self, item: _Frame | _Mark) -> None:
        async with self._send_lock:
            if item.generation != self.generation:
                return  # queued before a clear: must never reach the caller
            if isinstance(item, _Mark):
                await self._sender.send_mark(item.name)
                if self.on_mark_sent:
                    self.on_mark_sent(item.name, self.playout_end)
                return
            await self._sender.send_audio(item.audio)
            self._advance_playout(item)

    def _advance_playout(self, frame: _Frame) -> None:
        now = self._clock()
        self._note_lateness(frame, now)
        # After a gap the far side starts playing at once, so the clock restarts from now.
        self.playout_end = max(self.playout_end, now) + FRAME_S
        self.frames_sent += 1
        if self.on_frame_sent:
            self.on_frame_sent(now, frame.audio)

    def _note_lateness(self, frame: _Frame, now: float) -> None:
        """Late = ready before the far side ran dry, yet sent after it did (loop lag)."""
        if frame.queued_at >= self.playout_end:
            return  # it arrived after a gap: nothing was waiting to play
        lateness = now - self.playout_end
        self.worst_lateness_s = max(self.worst_lateness_s, lateness)
        if lateness > LATE_S:
            self.late_frames += 1
