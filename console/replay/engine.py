"""The replay engine: play, pause, seek, skip and speed over one recording, read by the sound
card's thread. Pure logic plus a lock; the device is injected (`console.audio_io.AudioDevices`).

Threads: PortAudio calls `fill` on its own thread; the console's keys and the CLI call the
controls from theirs. Every method takes the lock for a few array operations only, so neither
side ever waits on the other for long, and the event loop never waits on the sound card.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from console.audio_io import SAMPLE_RATE, OutputCallback, Stream, _Device
from console.replay.stretch import Stretcher

SPEEDS = (1.0, 1.5, 2.0)
SKIP_SECONDS = 5.0


class ReplayEngine:
    """A recording (mono int16 at 8 kHz) with a playhead."""

    def __init__(self, samples: np.ndarray) -> None:
        self._samples = samples
        self._lock = threading.Lock()
        self._position = 0  # the recording sample played next, at 1x
        self._stretcher: Stretcher | None = None  # owns the playhead at 1.5x and 2x
        self._speed = 1.0
        self.playing = False
        self.ended = threading.Event()  # set when the playhead reaches the end

    @property
    def length(self) -> float:
        return len(self._samples) / SAMPLE_RATE

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def position(self) -> float:
        """Seconds from the start of the recording (sample 0 = the call's `started`)."""
        with self._lock:
            return self._head() / SAMPLE_RATE

    def play(self) -> None:
        with self._lock:
            if self._head() >= len(self._samples):
                self._move(0)  # play after the end starts over
            self.playing = True
            self.ended.clear()

    def pause(self) -> None:
        with self._lock:
            self.playing = False

    def toggle(self) -> bool:
        """Play or pause; returns whether it is playing now."""
        if self.playing:
            self.pause()
        else:
            self.play()
        return self.playing

    def seek(self, seconds: float) -> None:
        with self._lock:
            self._move(round(seconds * SAMPLE_RATE))

    def skip(self, seconds: float) -> None:
        with self._lock:
            self._move(round(self._head() + seconds * SAMPLE_RATE))

    def set_speed(self, speed: float) -> None:
        if speed not in SPEEDS:
            raise ValueError(f"speed must be one of {SPEEDS}, not {speed}")
        with self._lock:
            head = self._head()
            self._speed = speed
            self._move(head)

    def next_speed(self) -> float:
        """1x -> 1.5x -> 2x -> 1x; returns the new speed."""
        self.set_speed(SPEEDS[(SPEEDS.index(self._speed) + 1) % len(SPEEDS)])
        return self._speed

    def fill(self, count: int) -> np.ndarray:
        """The next `count` samples for the speaker: silence while paused or past the end."""
        with self._lock:
            audio = self._advance(count) if self.playing else np.zeros(0, np.int16)
        if len(audio) < count:
            audio = np.concatenate([audio, np.zeros(count - len(audio), np.int16)])
        return audio

    # -- under the lock ---------------------------------------------------------------------

    def _head(self) -> int:
        if self._stretcher is not None:
            return min(len(self._samples), round(self._stretcher.position))
        return self._position

    def _move(self, sample: int) -> None:
        self._position = min(max(0, sample), len(self._samples))
        self._stretcher = None
        if self._speed != 1.0:  # a fresh stretch: windows from before the jump must not leak in
            self._stretcher = Stretcher(self._samples, self._position, self._speed)

    def _advance(self, count: int) -> np.ndarray:
        if self._stretcher is not None:
            audio = self._stretcher.read(count)
            done = self._stretcher.exhausted
        else:
            audio = self._samples[self._position : self._position + count]
            self._position += len(audio)
            done = self._position >= len(self._samples)
        if done:
            self._move(len(self._samples))
            self.playing = False
            self.ended.set()
        return audio


class ReplayOutput:
    """A ReplayEngine on an output stream. `start`/`close` block (PortAudio): use a thread."""

    def __init__(
        self, engine: ReplayEngine, open_output: Callable[[OutputCallback], Stream]
    ) -> None:
        self.engine = engine
        self._open_output = open_output
        self._device = _Device()

    def start(self) -> None:
        self._device.keep(self._open_output(self._fill))

    def _fill(self, outdata: Any, frames: int, _time: Any, _status: Any) -> None:
        outdata[:] = self.engine.fill(frames).astype("<i2").tobytes()

    def close(self) -> None:
        self._device.close()
