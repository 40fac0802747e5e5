"""Just enough WAV for the simulator: read PCM16 (mono or stereo, any rate), write 8 kHz mono.

The reader walks RIFF chunks itself instead of using `wave` because `espeak-ng --stdout` writes
to a pipe and cannot seek back to fix its header: the sizes it leaves there are placeholders
(0x7FFFF000), so the data chunk is taken as "whatever bytes follow" when its size overruns.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from console.audio_codec import SAMPLE_RATE, pcm16_to_mulaw, resample_pcm16

_PCM_FORMAT = 1
_EXTENSIBLE_FORMAT = 0xFFFE  # WAVE_FORMAT_EXTENSIBLE, used by some editors for plain PCM


class WavError(ValueError):
    """The bytes are not a WAV file this simulator can read (16-bit PCM, 1 or 2 channels)."""


@dataclass(frozen=True)
class Pcm:
    samples: bytes  # little-endian int16, mono
    rate: int


def _chunks(data: bytes) -> dict[bytes, bytes]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    found: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(data):
        name, size = struct.unpack_from("<4sI", data, offset)
        body = data[offset + 8 : offset + 8 + size]  # a size past the end takes the rest
        found.setdefault(name, body)
        offset += 8 + size + (size & 1)  # chunks are word-aligned
    return found


def _format(fmt: bytes) -> tuple[int, int]:
    """(channels, rate) of a 16-bit PCM fmt chunk."""
    if len(fmt) < 16:
        raise WavError("fmt chunk too short")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag not in (_PCM_FORMAT, _EXTENSIBLE_FORMAT) or bits != 16:
        raise WavError(f"only 16-bit PCM is supported (format {tag}, {bits} bits)")
    if channels not in (1, 2) or rate <= 0:
        raise WavError(f"only mono or stereo is supported ({channels} channels, {rate} Hz)")
    return channels, rate


def parse_wav(data: bytes) -> Pcm:
    """Mono PCM16 from WAV bytes; stereo is averaged to mono."""
    chunks = _chunks(data)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise WavError("missing fmt or data chunk")
    channels, rate = _format(chunks[b"fmt "])
    body = chunks[b"data"]
    samples = np.frombuffer(body[: len(body) // (2 * channels) * 2 * channels], dtype="<i2")
    if channels == 2:
        pairs = samples.reshape(-1, 2).astype(np.int32)
        samples = (pairs.sum(axis=1) // 2).astype("<i2")
    return Pcm(samples.tobytes(), rate)


def to_mulaw_8k(pcm: Pcm) -> bytes:
    """Telephone audio: resampled to 8 kHz (soxr) and mu-law encoded."""
    return pcm16_to_mulaw(resample_pcm16(pcm.samples, pcm.rate, SAMPLE_RATE))


def read_wav_as_mulaw(path: Path) -> bytes:
    """Blocking file read: call from a thread when a loop is running."""
    return to_mulaw_8k(parse_wav(Path(path).read_bytes()))


def write_wav(path: Path, pcm16: bytes, rate: int = SAMPLE_RATE) -> None:
    """Mono PCM16 WAV. Blocking file write: call from a thread when a loop is running."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm16)
