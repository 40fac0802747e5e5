"""The simulated phone's speaker: a playout queue on the call's sample clock, marks and clear.

Pure bookkeeping (no clock of its own, no I/O): the caller passes "now" as a sample index on the
8 kHz call clock. It mirrors what Twilio documents: outbound audio queues and plays in order; a mark
is echoed when the audio queued before it has played (at once if nothing is queued); `clear` drops
the queue and echoes every pending mark at once. `heard` is what the caller's ear got, silence in
the gaps, with audio dropped by `clear` removed, so a recording sounds like the call did.
"""

from __future__ import annotations

from collections import deque

from console.audio_codec import SAMPLE_RATE, SILENCE_BYTE

TURN_GAP_SAMPLES = SAMPLE_RATE // 10  # 100 ms of idle speaker before audio = a new agent turn


class Playout:
    def __init__(self, instant: bool = False) -> None:
        self.instant = instant  # fast mode: everything "plays" the moment it arrives
        self.heard = bytearray()  # invariant: len(heard) == sample where queued audio ends
        self._pending: deque[tuple[int, str]] = deque()  # (due sample, mark name), in order
        self._fresh = True  # nothing played since the call started or the last clear

    @property
    def end(self) -> int:
        """Sample index at which everything queued so far will have played."""
        return len(self.heard)

    def _now(self, now: int) -> int:
        return self.end if self.instant else now  # instant: always caught up, no gaps

    def add_audio(self, mulaw: bytes, now: int) -> bool:
        """Queue agent audio; True when it starts a new agent turn: the speaker had been idle for
        100 ms, or nothing had played since the start or a clear (always False when instant:
        there the caller judges turns by arrival gaps)."""
        now = self._now(now)
        idle = now - self.end
        if idle > 0:
            self.heard.extend(bytes([SILENCE_BYTE]) * idle)
        self.heard.extend(mulaw)
        new_turn = self._fresh or idle >= TURN_GAP_SAMPLES
        self._fresh = False
        return not self.instant and new_turn

    def add_mark(self, name: str, now: int) -> list[str]:
        """Marks to echo now, in order (this one included if nothing is left to play)."""
        now = self._now(now)
        self._pending.append((self.end, name))
        return self.due_marks(now)

    def due_marks(self, now: int) -> list[str]:
        now = self._now(now)
        due: list[str] = []
        while self._pending and self._pending[0][0] <= now:
            due.append(self._pending.popleft()[1])
        return due

    def clear(self, now: int) -> list[str]:
        """Drop unplayed audio; every pending mark is echoed at once."""
        now = self._now(now)
        if self.end > now:
            del self.heard[now:]
        names = [name for _, name in self._pending]
        self._pending.clear()
        self._fresh = True
        return names

    def idle(self, now: int) -> bool:
        """Nothing left to play and no mark waiting for its echo."""
        return self._now(now) >= self.end and not self._pending

    def hang_up(self, now: int) -> None:
        """The call ended: audio that had not played yet was never heard."""
        now = self._now(now)
        if self.end > now:
            del self.heard[now:]
