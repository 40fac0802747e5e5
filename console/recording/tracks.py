"""The two channels of a recording as pure bookkeeping on the call's 8 kHz sample clock.

No clock and no I/O: the recorder passes "now" as a sample index. Both tracks hand out settled
audio (mu-law, one byte per sample) from where they last did, so a call's memory stays bounded by
what has not been written yet (a second or two), however long the call.
"""

from __future__ import annotations

from console.audio_codec import SILENCE_BYTE

SILENCE = bytes([SILENCE_BYTE])


class CallerTrack:
    """Left: caller frames in the order they arrived (Twilio sends one 20 ms frame every 20 ms
    for the whole call, silence included, so frame order is the inbound clock)."""

    def __init__(self) -> None:
        self.base = 0  # sample index of buffer[0]; everything before it was handed out
        self.buffer = bytearray()

    @property
    def end(self) -> int:
        return self.base + len(self.buffer)

    def add(self, mulaw: bytes) -> None:
        self.buffer.extend(mulaw)

    def skip_to(self, sample: int) -> None:
        """The stream stalled: the gap up to `sample` is silence (frames that come later follow
        it, since frame order is all this track knows)."""
        if sample > self.end:
            self.buffer.extend(SILENCE * (sample - self.end))

    def mute(self, start: int, end: int) -> None:
        """Silence [start, end) where it is still in memory (the writer mutes what is not)."""
        low, high = max(start, self.base) - self.base, min(end, self.end) - self.base
        if high > low:
            self.buffer[low:high] = SILENCE * (high - low)

    def take(self, upto: int) -> bytes:
        """Audio from `base` to `upto`, silence past what has arrived."""
        return _take(self, upto)


class HeardTrack:
    """Right: what the caller heard, on a model of Twilio's playout, as the simulated caller's
    speaker (console/simulate/playout.py) models it: audio plays in order from when it arrives,
    after what is queued; idle time is silence; `clear` drops what has not played yet."""

    def __init__(self) -> None:
        self.base = 0
        self.buffer = bytearray()  # from `base` to where queued audio ends

    @property
    def end(self) -> int:
        """Sample index at which everything queued so far will have played."""
        return self.base + len(self.buffer)

    def add(self, mulaw: bytes, now: int) -> None:
        if now > self.end:
            self.buffer.extend(SILENCE * (now - self.end))
        self.buffer.extend(mulaw)

    def clear(self, now: int) -> None:
        """Unplayed audio is dropped (`clear`, or the call ended before it played)."""
        if self.end > now:
            del self.buffer[max(now, self.base) - self.base:]

    def take(self, upto: int) -> bytes:
        """Audio from `base` to `upto` (the caller may pass only samples already played)."""
        return _take(self, upto)


def _take(track: CallerTrack | HeardTrack, upto: int) -> bytes:
    count = max(0, upto - track.base)
    out = bytes(track.buffer[:count])
    del track.buffer[:count]
    track.base += count
    return out + SILENCE * (count - len(out))
