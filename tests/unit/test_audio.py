"""mu-law codec and framing helpers, checked against the stdlib reference where it exists."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from console import audio_codec as audio

with warnings.catch_warnings():
    warnings.simplefilter(
        "ignore", DeprecationWarning
    )  # audioop is deprecated in 3.11, gone in 3.13
    try:
        import audioop
    except ImportError:  # pragma: no cover - Python >= 3.13
        audioop = None

needs_audioop = pytest.mark.skipif(audioop is None, reason="stdlib audioop is gone (3.13+)")
EVERY_INT16 = np.arange(-32768, 32768, dtype="<i2").tobytes()


@needs_audioop
def test_decoding_every_mulaw_byte_matches_audioop_exactly():
    codes = bytes(range(256))
    assert audio.mulaw_to_pcm16(codes) == audioop.ulaw2lin(codes, 2)


@needs_audioop
def test_encoding_every_int16_value_matches_audioop_exactly():
    assert audio.pcm16_to_mulaw(EVERY_INT16) == audioop.lin2ulaw(EVERY_INT16, 2)


def test_decoding_then_encoding_gives_back_every_mulaw_byte_except_negative_zero():
    codes = bytes(range(256))
    again = audio.pcm16_to_mulaw(audio.mulaw_to_pcm16(codes))
    # 0x7F is "negative zero"; it decodes to 0, which encodes as the canonical 0xFF.
    assert [c for c, d in zip(codes, again, strict=True) if c != d] == [0x7F]


def test_silence_is_0xff_bytes_eight_per_millisecond_and_decodes_to_zero():
    assert audio.silence(20) == b"\xff" * 160
    assert set(np.frombuffer(audio.mulaw_to_pcm16(audio.silence(20)), "<i2")) == {0}


def test_frames_split_into_160_byte_frames_and_pad_the_last_with_silence():
    chunks = audio.frames(b"\x01" * 400)
    assert [len(c) for c in chunks] == [160, 160, 160]
    assert chunks[-1] == b"\x01" * 80 + b"\xff" * 80
    assert audio.frames(b"") == []
    assert audio.FRAME_BYTES == 160 and audio.FRAME_MS == 20 and audio.SILENCE_BYTE == 0xFF


def test_resampling_keeps_duration_and_a_tone_frequency():
    rate, seconds, hz = 22050, 0.5, 440
    t = np.arange(int(rate * seconds)) / rate
    tone = (np.sin(2 * math.pi * hz * t) * 12000).astype("<i2").tobytes()
    out = np.frombuffer(audio.resample_pcm16(tone, rate, 8000), "<i2")
    assert len(out) == 4000
    peak = np.argmax(np.abs(np.fft.rfft(out))) * 8000 / len(out)
    assert abs(peak - hz) < 5
    assert audio.resample_pcm16(tone, 8000, 8000) == tone


def test_rms_dbfs_reads_full_scale_near_zero_and_silence_at_the_floor():
    full = np.full(800, 32767, "<i2").tobytes()
    half = np.full(800, 16384, "<i2").tobytes()
    assert audio.rms_dbfs(full) == pytest.approx(0.0, abs=0.01)
    assert audio.rms_dbfs(half) == pytest.approx(-6.02, abs=0.05)
    assert audio.rms_dbfs(b"\0\0" * 100) == audio.DBFS_FLOOR
    assert audio.rms_dbfs(b"") == audio.DBFS_FLOOR
