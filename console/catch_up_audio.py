"""Catch-up on join (issue 15): the call's last 15 s at 1.5x, then the call live, on one stream.

The player keeps its own copy of the call's ring (`console.audio_ring`) and the console taps the
call into it in the same loop step, so nothing is missed or heard twice. It plays the ring from
its oldest sample through a WSOLA time-stretch (`console.replay.stretch`: faster, same pitch)
while the call goes on; 15 s behind at 1.5x it draws level after 30 s (it gains 0.5 s a second),
and from then it plays the ring at 1x, a little behind the caller's frames, as listen-in does.
No gap and no jump at the switch: the 1x reader starts where the stretch stopped.

Threads: the loop adds frames (`feed`), PortAudio's thread reads (`fill`); one lock, held only
to copy a few hundred samples in or out, never while stretching.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from console.audio_codec import decode_samples
from console.audio_io import (
    LEGS,
    MAX_BUFFER_MS,
    PRIME_MS,
    SAMPLE_RATE,
    LevelMeter,
    OutputCallback,
    Stream,
    _Device,
)
from console.audio_ring import CallRing
from console.replay.stretch import HOP, TOLERANCE, WINDOW, Stretcher

CATCH_UP_SPEED = 1.5
PRIME = SAMPLE_RATE * PRIME_MS // 1000  # the cushion kept behind the caller's frames, as listen-in
MAX_BEHIND = SAMPLE_RATE * MAX_BUFFER_MS // 1000  # live: further behind than this skips ahead
# The stretch reads a window and its search range past its playhead, and a block more: it hands
# over to the 1x reader this far from the newest caller frame, so it never reads past it.
STRETCH_MARGIN = WINDOW + 2 * TOLERANCE + 2 * HOP


class RingMix:
    """The player's ring as the Stretcher reads a recording: `len()` is how far the caller's
    frames have come, `[a:b]` the two legs (those not muted) summed as int16."""

    def __init__(self, ring: CallRing) -> None:
        self._ring = ring
        self._lock = threading.Lock()
        self.muted: set[str] = set()

    def add(self, leg: str, mulaw: bytes) -> None:
        with self._lock:
            self._ring.add(leg, mulaw)

    def __len__(self) -> int:
        with self._lock:
            return self._ring.caller_end

    @property
    def start(self) -> int:
        with self._lock:
            return self._ring.start

    def legs(self, start: int, end: int) -> dict[str, np.ndarray]:
        with self._lock:
            raw = {leg: self._ring.read(leg, start, end) for leg in LEGS if leg not in self.muted}
        return {leg: decode_samples(audio) for leg, audio in raw.items()}

    def __getitem__(self, span: slice) -> np.ndarray:
        total = np.zeros(max(0, span.stop - span.start), dtype=np.int32)
        for pcm in self.legs(span.start, span.stop).values():
            total += pcm
        return np.clip(total, -32768, 32767).astype(np.int16)


class CatchUpPlayer:
    """`start`/`close` block (PortAudio): use a thread. Silent until `load` gives it a ring."""

    def __init__(self, open_output: Callable[[OutputCallback], Stream],
                 speed: float = CATCH_UP_SPEED) -> None:
        self._open_output = open_output
        self._speed = speed
        self._device = _Device()
        self._lock = threading.Lock()  # the playhead: `fill` against the console's questions
        self._mix: RingMix | None = None
        self._stretcher: Stretcher | None = None
        self._head = 0  # the 1x reader's next sample, once live
        self._priming = True
        self.meter = LevelMeter()
        self.skipped = 0  # samples jumped over, live, because the speaker fell behind

    def load(self, ring: CallRing) -> None:
        """Start from the oldest sample of `ring` (the player's own copy: feed it from now)."""
        mix = RingMix(ring)
        with self._lock:
            self._mix = mix
            self._stretcher = Stretcher(mix, ring.start, self._speed)

    def feed(self, leg: str, mulaw: bytes) -> None:
        """The call's audio tap, on the event loop."""
        if self._mix is not None:
            self._mix.add(leg, mulaw)

    @property
    def muted(self) -> set[str]:
        return self._mix.muted if self._mix is not None else set()

    @muted.setter
    def muted(self, legs: set[str]) -> None:
        if self._mix is not None:
            self._mix.muted = legs

    @property
    def behind_s(self) -> float | None:
        """How far behind the call the operator is while catching up; None once live."""
        with self._lock:
            stretcher, mix = self._stretcher, self._mix
            if stretcher is None or mix is None:
                return None
            return max(0.0, len(mix) - stretcher.position) / SAMPLE_RATE

    def start(self) -> None:
        self._device.keep(self._open_output(self._fill))

    def close(self) -> None:
        self._device.close()

    def _fill(self, outdata: Any, frames: int, _time: Any, _status: Any) -> None:
        outdata[:] = self.pull(frames).astype("<i2").tobytes()

    def pull(self, count: int) -> np.ndarray:
        """The next `count` samples for the speaker (8 kHz int16)."""
        with self._lock:
            mix = self._mix
            if mix is None:
                return np.zeros(count, np.int16)
            if self._stretcher is not None:
                audio = self._catching_up(mix, count)
                if audio is not None:
                    return audio
            return self._live(mix, count)

    def _catching_up(self, mix: RingMix, count: int) -> np.ndarray | None:
        stretcher = self._stretcher
        assert stretcher is not None
        head = stretcher.position
        margin = PRIME + STRETCH_MARGIN + count * self._speed
        if len(mix) - head <= margin:  # drawn level: play on at 1x from exactly here
            self._stretcher, self._head, self._priming = None, round(head), False
            return None
        self._measure(mix, round(head), round(head + count * self._speed))
        return stretcher.read(count)

    def _live(self, mix: RingMix, count: int) -> np.ndarray:
        edge = len(mix)
        if self._priming and edge - self._head < PRIME:
            return np.zeros(count, np.int16)  # waiting for a cushion, as listen-in does
        self._priming = False
        if edge - self._head > MAX_BEHIND:  # the speaker fell behind: stay live, not late
            self.skipped += edge - PRIME - self._head
            self._head = edge - PRIME
        take = min(count, edge - self._head)
        audio = mix[self._head : self._head + take]
        self._measure(mix, self._head, self._head + take)
        self._head += take
        if take < count:
            self._priming = True  # ran dry: wait for a cushion again rather than crackle
            audio = np.concatenate([audio, np.zeros(count - take, np.int16)])
        return audio

    def _measure(self, mix: RingMix, start: int, end: int) -> None:
        for leg, pcm in mix.legs(start, end).items():
            self.meter.note(leg, pcm)
