"""Telephone audio: G.711 mu-law <-> PCM16, 20 ms framing, resampling and a level meter.

The codec is two numpy lookup tables built once on first use (never at import time), so a
160-byte frame converts with one fancy-index instead of a Python loop. Both tables are bit-exact
with the stdlib `audioop.ulaw2lin` / `audioop.lin2ulaw` (audioop leaves the stdlib in 3.13).

Part of the kernel: the wire, the providers, the simulator and the recorder all speak mu-law, so
the codec lives below all of them and imports nothing of ours.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000  # 160 mu-law bytes = 160 samples = 20 ms
SILENCE_BYTE = 0xFF  # mu-law for 0 (the positive-zero code; 0x7F is negative zero)
DBFS_FLOOR = -96.0  # 16-bit audio has ~96 dB of range; digital silence reports this floor

# G.711 constants as audioop uses them: PCM16 is reduced to 14 bits, biased by 33 (= 0x84 >> 2)
# and clipped to 8159 so that magnitude + bias still fits the top segment (0x1FFF).
_BIAS = 0x84
_CLIP = 8159
_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)


@cache
def _decode_table() -> np.ndarray:
    """256 entries: mu-law byte -> int16 sample."""
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    mantissa = ((code & 0x0F) << 3) + _BIAS
    magnitude = mantissa << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _BIAS - magnitude, magnitude - _BIAS).astype(np.int16)


@cache
def _encode_table() -> np.ndarray:
    """65536 entries indexed by the int16 sample viewed as uint16 -> mu-law byte."""
    samples = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32) >> 2
    mask = np.where(samples < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(samples), _CLIP) + (_BIAS >> 2)
    segment = np.searchsorted(_SEGMENT_ENDS, magnitude, side="left")
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    # Clipped samples land past the last segment (8159 + 33 = 8192 > 0x1FFF): loudest code.
    code = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)
    return (code ^ mask).astype(np.uint8)


def decode_samples(mulaw: bytes) -> np.ndarray:
    """Decode mu-law bytes to int16 samples (what mixers and the sound card work on)."""
    return _decode_table()[np.frombuffer(mulaw, dtype=np.uint8)]


def encode_samples(samples: np.ndarray) -> bytes:
    """Encode samples (cast to int16) to mu-law bytes."""
    return _encode_table()[samples.astype(np.int16).view(np.uint16)].tobytes()


def mulaw_to_pcm16(mulaw: bytes) -> bytes:
    """Decode mu-law bytes to little-endian signed 16-bit PCM (two bytes per input byte)."""
    return decode_samples(mulaw).astype("<i2").tobytes()


def pcm16_to_mulaw(pcm: bytes) -> bytes:
    """Encode little-endian PCM16 to mu-law. A trailing odd byte is ignored."""
    return encode_samples(np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2"))


def silence(ms: int) -> bytes:
    """`ms` milliseconds of mu-law silence (8 bytes per ms)."""
    return bytes([SILENCE_BYTE]) * (SAMPLE_RATE * ms // 1000)


def frames(mulaw: bytes) -> list[bytes]:
    """Split into 160-byte (20 ms) frames; the last one is padded with silence."""
    chunks = [mulaw[i : i + FRAME_BYTES] for i in range(0, len(mulaw), FRAME_BYTES)]
    if chunks and len(chunks[-1]) < FRAME_BYTES:
        chunks[-1] = chunks[-1].ljust(FRAME_BYTES, bytes([SILENCE_BYTE]))
    return chunks


def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Mono PCM16 from one sample rate to another (soxr, high quality)."""
    if from_rate == to_rate or not pcm:
        return pcm
    import soxr  # imported here: only the simulator and local providers need it

    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    resampled: np.ndarray = soxr.resample(samples, from_rate, to_rate)  # soxr is untyped
    return resampled.astype("<i2").tobytes()


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of PCM16 in dB relative to full scale; DBFS_FLOOR for silence or no audio."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return DBFS_FLOOR
    rms = math.sqrt(float(np.mean(samples * samples)))
    if rms == 0.0:
        return DBFS_FLOOR
    return max(DBFS_FLOOR, 20.0 * math.log10(rms / 32768.0))
