"""The operator's own sound card: listen-in on the speaker, the microphone during a take-over.

A shared module: no Textual, no telephony, no call code; mu-law comes from the kernel's codec
(console.audio_codec). `sounddevice` is optional (the `audio` extra) and importing it loads and
initialises PortAudio (PROTOCOLS.md section 6), so it is imported only inside the functions that
open or probe a device, which callers run in threads.

Threads: sounddevice calls our stream callbacks on PortAudio's own thread. Listen-in frames arrive
on the event loop (the call's audio tap) and cross to that thread through `JitterBuffer`s (a lock
held for one small bytearray operation); microphone frames cross back with
`loop.call_soon_threadsafe`. Nothing here ever blocks the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from console.audio_codec import decode_samples, encode_samples

SAMPLE_RATE = 8000  # Twilio Media Streams: 8 kHz mono mu-law
FRAME_SAMPLES = 160  # 20 ms
MULAW_SILENCE = 0xFF
LEGS = ("caller", "agent")
PRIME_MS = 60  # a leg starts (and restarts after running dry) once 60 ms are queued: smooths
# the agent's bursts (the pacer sends up to 100 ms ahead) and WebSocket delivery jitter
MAX_BUFFER_MS = 300  # beyond this the oldest audio is dropped: listen-in stays live, not late
MIC_QUEUE_FRAMES = 10  # 200 ms of operator speech waiting for the loop, then the oldest goes

OutputCallback = Callable[[Any, int, Any, Any], None]  # (outdata, frames, time, status)
InputCallback = Callable[[Any, int, Any, Any], None]  # (indata, frames, time, status)


class Stream(Protocol):
    """What we use of a sounddevice stream (tests pass fakes)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


# --- listen-in: both legs mixed to the speaker ----------------------------------------------


class JitterBuffer:
    """One leg's mu-law on its way from the event loop to the audio thread."""

    def __init__(self, prime_ms: int = PRIME_MS, max_ms: int = MAX_BUFFER_MS) -> None:
        self._prime = SAMPLE_RATE * prime_ms // 1000
        self._max = SAMPLE_RATE * max_ms // 1000
        self._audio = bytearray()
        self._priming = True
        self._lock = threading.Lock()
        self.dropped = 0  # bytes thrown away because the speaker fell behind

    def push(self, mulaw: bytes) -> None:
        with self._lock:
            self._audio += mulaw
            excess = len(self._audio) - self._max
            if excess > 0:
                del self._audio[:excess]
                self.dropped += excess

    def take(self, count: int) -> bytes:
        """`count` mu-law bytes, padded with silence when the leg is priming or runs dry."""
        with self._lock:
            if self._priming and len(self._audio) < self._prime:
                return bytes([MULAW_SILENCE]) * count
            self._priming = False
            chunk = bytes(self._audio[:count])
            del self._audio[:count]
            if len(chunk) < count:
                self._priming = True  # ran dry: wait for a cushion again rather than crackle
        return chunk.ljust(count, bytes([MULAW_SILENCE]))


class CallMix:
    """The caller and the agent, summed into one PCM16 signal for the operator's speaker."""

    def __init__(self) -> None:
        self.legs = {leg: JitterBuffer() for leg in LEGS}
        self.muted: set[str] = set()
        self.meter = LevelMeter()

    def feed(self, leg: str, mulaw: bytes) -> None:
        """The call's audio tap: runs on the event loop for every 20 ms frame of either leg."""
        buffer = self.legs.get(leg)
        if buffer is not None and leg not in self.muted:
            buffer.push(mulaw)

    def pull(self, samples: int) -> bytes:
        """Little-endian PCM16 for the audio thread: both legs, summed and clipped."""
        total = np.zeros(samples, dtype=np.int32)
        for leg, buffer in self.legs.items():
            pcm = decode_samples(buffer.take(samples))
            self.meter.note(leg, pcm)
            total += pcm
        return np.clip(total, -32768, 32767).astype("<i2").tobytes()


class LevelMeter:
    """Each leg's loudest 20 ms block (RMS, dBFS) since the console last looked: what the
    operator hears, measured on the audio thread, read at the screen's pace (10 Hz)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._peak: dict[str, float] = {}

    def note(self, leg: str, pcm: np.ndarray) -> None:
        level = dbfs(pcm)
        with self._lock:
            self._peak[leg] = max(level, self._peak.get(leg, FLOOR_DB))

    def take(self) -> dict[str, float]:
        """Each leg's level since the last `take` (FLOOR_DB for a leg not heard)."""
        with self._lock:
            peaks, self._peak = self._peak, {}
        return {leg: peaks.get(leg, FLOOR_DB) for leg in LEGS}


FLOOR_DB = -60.0  # a meter's bottom: quieter than a quiet line's hiss (about -50 dBFS in mu-law)


def dbfs(pcm: np.ndarray) -> float:
    """RMS level of PCM16 in dB below full scale, no lower than FLOOR_DB."""
    if not len(pcm):
        return FLOOR_DB
    rms = float(np.sqrt(np.mean(np.square(pcm.astype(np.float64)))))
    return max(FLOOR_DB, 20 * float(np.log10(max(rms, 1e-9) / 32768)))


class ListenInPlayer:
    """A CallMix played on an output stream. `start`/`close` block (PortAudio): use a thread."""

    def __init__(self, open_output: Callable[[OutputCallback], Stream]) -> None:
        self.mix = CallMix()
        self._open_output = open_output
        self._device = _Device()

    @property
    def muted(self) -> set[str]:
        return self.mix.muted

    @muted.setter
    def muted(self, legs: set[str]) -> None:
        self.mix.muted = legs

    @property
    def meter(self) -> LevelMeter:
        return self.mix.meter

    def start(self) -> None:
        self._device.keep(self._open_output(self._fill))

    def _fill(self, outdata: Any, frames: int, _time: Any, _status: Any) -> None:
        outdata[:] = self.mix.pull(frames)

    def close(self) -> None:
        self._device.close()


# --- the operator's microphone --------------------------------------------------------------


class MicFramer:
    """PCM16 at the device's rate -> 20 ms frames of 8 kHz mu-law (soxr when rates differ)."""

    def __init__(self, rate: int) -> None:
        self._resampler: Any = None
        if rate != SAMPLE_RATE:
            import soxr  # a core dependency, loaded only when a microphone is opened

            # "LQ" holds back ~34 ms at 48 kHz (measured); the default "HQ" holds back 128 ms,
            # too much on top of the call's own latency, and telephone speech needs no better.
            self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16", quality="LQ")
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, pcm: bytes) -> list[bytes]:
        samples = np.frombuffer(pcm, dtype="<i2")
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self._pending = np.concatenate([self._pending, samples])
        whole = len(self._pending) // FRAME_SAMPLES * FRAME_SAMPLES
        ready, self._pending = self._pending[:whole], self._pending[whole:]
        return [encode_samples(f) for f in np.split(ready, whole // FRAME_SAMPLES)] if whole else []


class OperatorMic:
    """The microphone as an async stream of 20 ms mu-law frames. `open`/`close` block."""

    def __init__(self, open_input: Callable[[InputCallback], tuple[Stream, int]]) -> None:
        self._open_input = open_input
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(MIC_QUEUE_FRAMES)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._framer: MicFramer | None = None
        self._device = _Device()
        self.dropped = 0  # frames lost because the loop fell behind

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        stream, rate = self._open_input(self._captured)
        self._framer = MicFramer(rate)
        self._device.keep(stream)

    def _captured(self, indata: Any, _frames: int, _time: Any, _status: Any) -> None:
        framer, loop = self._framer, self._loop
        if framer is None or loop is None:
            return  # the first callback can beat `open` returning
        for frame in framer.push(bytes(indata)):
            loop.call_soon_threadsafe(self._deliver, frame)

    def _deliver(self, frame: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(frame)

    async def frames(self) -> AsyncIterator[bytes]:
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        self._device.close()


class _Device:
    """One open stream, closed exactly once, even when `close` runs (shutdown, a cancelled
    worker) while another thread is still opening it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self._closed = False

    def keep(self, stream: Stream) -> None:
        with self._lock:
            if not self._closed:
                self._stream = stream
                return
        _shut(stream)  # closed while it was opening

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stream, self._stream = self._stream, None
        if stream is not None:
            _shut(stream)


def _shut(stream: Stream) -> None:
    stream.stop()
    stream.close()


# --- sounddevice ------------------------------------------------------------------------------


def why_no_device(kind: str) -> str | None:
    """None when an `kind` ("output"/"input") device exists, else why not, in words to act on.
    Blocking: the first call imports sounddevice, which initialises PortAudio."""
    try:
        import sounddevice as sd
    except ImportError:
        return "sounddevice is not installed (pip install 'voiceconsole[audio]')"
    except OSError as error:  # the PortAudio shared library itself is missing
        return f"{error} (install libportaudio2)"
    try:
        sd.query_devices(kind=kind)
    except (sd.PortAudioError, ValueError) as error:  # ValueError: no device of that kind
        return f"no audio {kind} device ({error})"
    return None


def open_speaker(callback: OutputCallback) -> Stream:
    """The default output at its own rate (many devices refuse 8 kHz, or resample it badly):
    `callback` still fills 8 kHz PCM16, and `SpeakerRate` resamples it."""
    import sounddevice as sd

    rate = int(sd.query_devices(kind="output")["default_samplerate"])
    stream: Stream = sd.RawOutputStream(  # sounddevice is untyped; this is its shape
        samplerate=rate,
        channels=1,
        dtype="int16",
        blocksize=rate // 50,  # 20 ms
        callback=callback if rate == SAMPLE_RATE else SpeakerRate(callback, rate),
    )
    stream.start()
    return stream


class SpeakerRate:
    """An 8 kHz output callback as one at the device's `rate`: asks it for 8 kHz blocks and
    resamples them (soxr, streaming). Runs on PortAudio's thread."""

    def __init__(self, fill: OutputCallback, rate: int) -> None:
        import soxr  # a core dependency, loaded only when a speaker is opened

        self._fill = fill
        self.rate = rate
        # "LQ", as for the microphone: telephone audio needs no better, and less is held back.
        self._resampler = soxr.ResampleStream(SAMPLE_RATE, rate, 1, dtype="int16", quality="LQ")
        self._ready = np.zeros(0, dtype=np.int16)

    def __call__(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        while len(self._ready) < frames:
            self._ready = np.concatenate([self._ready, self._next_block(frames, time, status)])
        out, self._ready = self._ready[:frames], self._ready[frames:]
        outdata[:] = out.astype("<i2").tobytes()

    def _next_block(self, frames: int, time: Any, status: Any) -> np.ndarray:
        wanted = max(1, -(-frames * SAMPLE_RATE // self.rate))  # 8 kHz samples, rounded up
        block = bytearray(wanted * 2)
        self._fill(memoryview(block), wanted, time, status)
        resampled: np.ndarray = self._resampler.resample_chunk(
            np.frombuffer(bytes(block), dtype="<i2"))  # soxr is untyped: int16 in, int16 out
        return resampled


def open_microphone(callback: InputCallback) -> tuple[Stream, int]:
    """The default input at its own rate (many devices refuse 8 kHz); MicFramer resamples."""
    import sounddevice as sd

    rate = int(sd.query_devices(kind="input")["default_samplerate"])
    stream = sd.RawInputStream(
        samplerate=rate, channels=1, dtype="int16", blocksize=rate // 50, callback=callback
    )  # 20 ms blocks
    stream.start()
    return stream, rate


@dataclass(frozen=True)
class AudioDevices:
    """How the console reaches the sound card; tests inject fakes for the streams."""

    open_output: Callable[[OutputCallback], Stream] = open_speaker
    open_input: Callable[[InputCallback], tuple[Stream, int]] = open_microphone
    why_unavailable: Callable[[str], str | None] = why_no_device
