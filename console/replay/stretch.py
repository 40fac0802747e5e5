"""Faster replay at the same pitch: WSOLA (waveform-similarity overlap-add) time stretching.

Plain resampling would play 2x speech an octave higher. WSOLA instead cuts the recording into
overlapping 32 ms windows, takes them `speed` times further apart than it lays them down, and
nudges each one (up to 8 ms) to where it best continues the previous one, so voices keep their
pitch and no phase clicks appear (Verhelst & Roelands, ICASSP 1993). At 8 kHz this costs a few
hundred thousand multiply-adds per second of audio: nothing next to the sound card's own thread.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

WINDOW = 256  # 32 ms at 8 kHz: longer than a voice's pitch period (2.5-12.5 ms), so it holds one
HOP = WINDOW // 2  # a periodic Hann window at 50 % overlap sums to exactly 1: no level ripple
TOLERANCE = 64  # how far (8 ms) a window may move to line up with the previous one
_HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)


class Samples(Protocol):
    """Mono int16 audio read a window at a time: a recording's array, or a live call's ring
    (console/catch_up_audio.py), which grows while it is read."""

    def __len__(self) -> int: ...

    def __getitem__(self, span: slice) -> np.ndarray: ...


class Stretcher:
    """Streams `samples` (mono int16) from `position` at `speed` times normal rate."""

    def __init__(self, samples: Samples, position: int, speed: float) -> None:
        self._x = samples  # int16, converted a window at a time: a seek must not copy an hour
        self._speed = speed
        self._analysis = float(position)  # where in the recording the next window is taken
        self._natural: int | None = None  # where the last window would have continued
        self._tail = np.zeros(HOP)  # the last window's second half, still to overlap
        self._ready = np.zeros(0)  # finished output not read yet

    @property
    def position(self) -> float:
        """The recording sample that the next sample read() returns comes from."""
        return max(0.0, self._analysis - len(self._ready) * self._speed)

    @property
    def exhausted(self) -> bool:
        return int(self._analysis) >= len(self._x) and not len(self._ready)

    def read(self, count: int) -> np.ndarray:
        """Up to `count` stretched samples (fewer only at the end of the recording)."""
        while len(self._ready) < count and int(self._analysis) < len(self._x):
            self._ready = np.concatenate([self._ready, self._step()])
        out, self._ready = self._ready[:count], self._ready[count:]
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    def _step(self) -> np.ndarray:
        start = self._best_start(int(round(self._analysis)))
        segment = self._window_at(start) * _HANN
        out, self._tail = self._tail + segment[:HOP], segment[HOP:]
        self._natural = start + HOP
        self._analysis += HOP * self._speed
        return out

    def _best_start(self, target: int) -> int:
        """Near `target`, the window start that best continues the previous window."""
        if self._natural is None:
            return target
        low = max(0, target - TOLERANCE)
        region = self._window_at(low, WINDOW + target + TOLERANCE - low)
        return low + best_match(region, self._window_at(self._natural))

    def _window_at(self, start: int, length: int = WINDOW) -> np.ndarray:
        piece = self._x[start : start + length].astype(np.float64)
        return piece if len(piece) == length else np.pad(piece, (0, length - len(piece)))


def best_match(region: np.ndarray, reference: np.ndarray) -> int:
    """The offset in `region` where a `reference`-long window is most like `reference`
    (cross-correlation normalised by each candidate's energy, so loud is not "like")."""
    correlation = np.correlate(region, reference, mode="valid")
    squares = np.concatenate([[0.0], np.cumsum(region * region)])
    energy = squares[len(reference) :] - squares[: -len(reference)]
    return int(np.argmax(correlation / np.sqrt(np.maximum(energy, 1e-9))))
