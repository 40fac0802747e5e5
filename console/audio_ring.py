"""The last seconds of a live call, both legs on one clock, for catching up on join (issue 15).

A kernel (pure bookkeeping, no I/O, no clock, no numpy): the call ring keeps one per live call
(`LiveCalls`), the console's catch-up player keeps its own copy. Both legs are mu-law (one byte a
sample, half of PCM16) in two preallocated rings, so a frame costs one or two slice copies and a
call's memory is fixed: (15 + 1) s x 8000 x 2 = 256 kB, 12.8 MB at 50 calls.

The clock is the caller's frames (Twilio sends one 20 ms frame every 20 ms, silence included),
as the recording's left channel uses it (console/recording/tracks.py). What the caller heard is
placed where it played: a frame sent at caller sample `now` plays at `now` or after the audio
queued before it. A tap does not see Twilio `clear`s, so after a barge-in up to the pacer's lead
(100 ms) of agent audio the caller never heard stays in the ring.
"""

from __future__ import annotations

SAMPLE_RATE = 8000
SILENCE = 0xFF  # mu-law zero
WINDOW_S = 15.0  # what a catch-up replays
# Agent audio is sent ahead of playout (the pacer's lead, 100 ms, more in a burst): room for a
# second of it beyond the caller's clock; anything further ahead is dropped, so memory stays fixed
# even when the caller's stream stalls and the agent talks on.
AHEAD_S = 1.0


class CallRing:
    """`add(leg, mulaw)` is a session audio tap ("caller" or "agent"); sample indexes are
    absolute from the caller's first frame."""

    def __init__(self, window_s: float = WINDOW_S, ahead_s: float = AHEAD_S) -> None:
        self.window = int(window_s * SAMPLE_RATE)
        self._ahead = int(ahead_s * SAMPLE_RATE)
        self.capacity = self.window + self._ahead
        self._legs = {"caller": bytearray([SILENCE]) * self.capacity,
                      "agent": bytearray([SILENCE]) * self.capacity}
        self.caller_end = 0  # the caller's next sample: "now" on the call's clock
        self.heard_end = 0  # where queued agent audio ends (never before `caller_end`)
        self.dropped = 0  # agent samples thrown away for being too far ahead

    @property
    def start(self) -> int:
        """The oldest sample still held (of the window before `caller_end`)."""
        return max(0, self.caller_end - self.window)

    def add(self, leg: str, mulaw: bytes) -> None:
        if leg == "caller":
            self._caller(mulaw)
        elif leg == "agent":
            self._agent(mulaw)

    def _caller(self, mulaw: bytes) -> None:
        end = self.caller_end + len(mulaw)
        if end > self.heard_end:  # nothing queued to play here: the caller heard silence
            self._write("agent", self.heard_end, bytes([SILENCE]) * (end - self.heard_end))
            self.heard_end = end
        self._write("caller", self.caller_end, mulaw)
        self.caller_end = end

    def _agent(self, mulaw: bytes) -> None:
        room = self.caller_end + self._ahead - self.heard_end
        kept = mulaw[: max(0, room)]
        self.dropped += len(mulaw) - len(kept)
        self._write("agent", self.heard_end, kept)
        self.heard_end += len(kept)

    def _write(self, leg: str, at: int, data: bytes) -> None:
        if len(data) > self.capacity:  # more than the ring holds: only its end survives
            at, data = at + len(data) - self.capacity, data[-self.capacity :]
        ring, offset = self._legs[leg], at % self.capacity
        first = min(len(data), self.capacity - offset)
        ring[offset : offset + first] = data[:first]
        ring[: len(data) - first] = data[first:]

    def read(self, leg: str, start: int, end: int) -> bytes:
        """Samples [start, end) of `leg`; silence for any part the ring no longer (or does not
        yet) hold."""
        low = max(start, self.start, self.heard_end - self.capacity)
        high = min(end, self.caller_end if leg == "caller" else self.heard_end)
        if high <= low:
            return bytes([SILENCE]) * max(0, end - start)
        ring, offset = self._legs[leg], low % self.capacity
        first = min(high - low, self.capacity - offset)
        held = bytes(ring[offset : offset + first]) + bytes(ring[: high - low - first])
        pad = bytes([SILENCE])
        return pad * (low - start) + held + pad * (end - high)

    def copy(self) -> CallRing:
        """An independent ring with the same audio (the catch-up player's own)."""
        twin = CallRing.__new__(CallRing)
        twin.__dict__.update(self.__dict__)
        twin._legs = {leg: bytearray(ring) for leg, ring in self._legs.items()}
        return twin
