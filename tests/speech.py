"""Caller sounds for tests and benches: real human speech, coughs, backchannels and commands.

Everything is 8 kHz G.711 mu-law, the audio a Twilio media stream carries.

Real speech comes from the MIT-licensed recordings that ship inside the `moonshine-voice` wheel
(a dev dependency), read from the installed package at run time and never copied into this repo:

    two_cities          48 kHz, 44.4 s, one reader (A Tale of Two Cities)
    beckett             16 kHz, 10.0 s, one reader
    endgame_nagg_nell   24 kHz, 28.3 s, two voices (a dialogue from Endgame)

The package is located with `importlib.util.find_spec` and never imported: importing it loads a
native library, which a test that only wants a WAV file does not need.

`voiced_spans` is this module's own energy measure, deliberately simpler than (and independent of)
the product's voice-activity code, so a test can state where the caller really spoke without
trusting the code under test.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from console.audio_codec import (
    SAMPLE_RATE,
    mulaw_to_pcm16,
    pcm16_to_mulaw,
    silence,
)
from console.simulate.voice import render_line
from console.simulate.wav import parse_wav, to_mulaw_8k

RECORDINGS = ("two_cities", "beckett", "endgame_nagg_nell")

SPEECH_LEVEL_DBFS = -20.0
"""Every recording is scaled so its loud frames (95th percentile of 10 ms RMS) sit here. As
shipped they differ by ~20 dB (two_cities' loud frames at -29 dBFS, endgame's at -10), which would
make one test's "speech" another's "noise"."""

FRAME_MS = 10  # the energy measure's resolution: 80 samples at 8 kHz
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000

VOICED_DBFS = -40.0
"""A 10 ms frame louder than this is voiced. After levelling, the recordings' room noise sits at
-52..-46 dBFS (two_cities, the noisiest) and speech peaks at -20..-13, so -40 is ~10 dB clear of
the noise and still catches the quieter consonants."""

MIN_RUN_MS = 30
"""Voiced runs shorter than this are clicks or lip noise, not speech: the recordings hold a few
isolated 10-20 ms blips inside their pauses. They are dropped before pauses are bridged, so the
measure gives the same runs whatever `min_pause_ms` is (which `monologue` relies on)."""


# --- the recordings -----------------------------------------------------------------------------


def _asset(name: str) -> Path:
    if name not in RECORDINGS:
        raise ValueError(f"unknown recording {name!r}; choose one of {RECORDINGS}")
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("moonshine-voice is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / f"{name}.wav"


def _levelled(mulaw: bytes) -> bytes:
    """Scale so the loud frames sit at SPEECH_LEVEL_DBFS (see there for why)."""
    samples = _samples(mulaw)
    gain_db = SPEECH_LEVEL_DBFS - float(np.percentile(_frame_dbfs(samples), 95))
    scaled = np.clip(samples * 10 ** (gain_db / 20), -32768, 32767)
    return pcm16_to_mulaw(scaled.astype("<i2").tobytes())


@lru_cache(maxsize=len(RECORDINGS))
def recording(name: str) -> bytes:
    """A whole recording as 8 kHz mu-law, resampled with soxr and levelled. Cached per name."""
    return _levelled(to_mulaw_8k(parse_wav(_asset(name).read_bytes())))


# --- the energy measure -------------------------------------------------------------------------


def _samples(mulaw: bytes) -> np.ndarray:
    return np.frombuffer(mulaw_to_pcm16(mulaw), dtype="<i2").astype(np.float64)


def _frame_dbfs(samples: np.ndarray) -> np.ndarray:
    """RMS of each whole 10 ms frame in dB relative to full scale (a trailing part is ignored)."""
    whole = samples[: len(samples) // FRAME_BYTES * FRAME_BYTES].reshape(-1, FRAME_BYTES)
    power = np.mean(whole * whole, axis=1) / 32768.0**2
    dbfs: np.ndarray = 10 * np.log10(power + 1e-12)  # 1e-12: digital silence: -120 dB, not -inf
    return dbfs


def _runs(voiced: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame indices of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], voiced.astype(np.int8), [0]))))
    return [(int(start), int(end)) for start, end in zip(edges[::2], edges[1::2], strict=True)]


def _bridged(runs: list[tuple[int, int]], min_gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _voiced_frames(mulaw: bytes, min_pause_ms: int) -> list[tuple[int, int]]:
    runs = _runs(_frame_dbfs(_samples(mulaw)) > VOICED_DBFS)
    runs = [(start, end) for start, end in runs if (end - start) * FRAME_MS >= MIN_RUN_MS]
    return _bridged(runs, -(-min_pause_ms // FRAME_MS))  # ceil: a 150 ms pause is 15 frames


def voiced_spans(mulaw: bytes, *, min_pause_ms: int = 150) -> list[tuple[float, float]]:
    """(start, end) in seconds of each stretch where someone is talking, at 10 ms resolution.

    A frame is voiced when its RMS exceeds VOICED_DBFS; pauses shorter than `min_pause_ms` are
    bridged (150 ms: the gaps between words of one phrase are mostly shorter) and voiced runs
    shorter than MIN_RUN_MS are dropped first."""
    return [
        (start * FRAME_MS / 1000, end * FRAME_MS / 1000)
        for start, end in _voiced_frames(mulaw, min_pause_ms)
    ]


def pauses(mulaw: bytes, *, min_pause_ms: int = 150) -> list[float]:
    """Lengths in seconds of the pauses between voiced spans (none before the first or after
    the last)."""
    spans = voiced_spans(mulaw, min_pause_ms=min_pause_ms)
    return [round(nxt[0] - prev[1], 3) for prev, nxt in zip(spans, spans[1:], strict=False)]


def _trimmed(mulaw: bytes) -> bytes:
    """From the first voiced frame to the end of the last one."""
    frames = _voiced_frames(mulaw, 150)
    if not frames:
        return b""
    return mulaw[frames[0][0] * FRAME_BYTES : frames[-1][1] * FRAME_BYTES]


# --- real speech --------------------------------------------------------------------------------


def speech_clip(name: str, seconds: float, *, start_s: float = 0.0) -> bytes:
    """About `seconds` of real speech from recording `name`.

    It starts exactly at the first voiced frame of the first span that begins at or after
    `start_s` (so a test knows the onset is byte 0) and ends at the end of the voiced span whose
    end is nearest to `seconds` after that onset (so the clip ends on speech, not mid-pause)."""
    audio = recording(name)
    spans = [span for span in _voiced_frames(audio, 150) if span[0] * FRAME_MS >= start_s * 1000]
    if not spans:
        raise ValueError(f"{name} has no speech after {start_s} s")
    onset = spans[0][0]
    target = onset + round(seconds * 1000 / FRAME_MS)
    end = min((span[1] for span in spans), key=lambda frame: abs(frame - target))
    return audio[onset * FRAME_BYTES : end * FRAME_BYTES]


SENTENCE_ENDS: dict[str, tuple[float, ...]] = {
    "two_cities": (41.63,),  # one long sentence: all its other pauses are inside it
    "beckett": (1.25, 2.69, 4.10, 5.50, 7.40, 9.09),
    "endgame_nagg_nell": (1.75, 4.12, 5.48, 6.10, 7.86, 11.19, 13.98, 15.66, 16.94, 19.78, 21.84,
                          23.10, 27.37, 28.27),
}  # fmt: skip
"""Where a speaker ended a sentence: the end (s) of the voiced span (`voiced_spans`) it ends,
labelled by the texts read (bench/prosody_cue.py says how)."""


def finished_turn(seed: int, seconds: float = 1.2, *, gaps_ms: tuple[int, int] = (0, 100)
                  ) -> bytes:
    """A caller's turn of real speech that ends where its speaker ended a sentence, as turns do:
    the phrases up to one of SENTENCE_ENDS (chosen by `seed`), at least `seconds` of them, joined
    by pauses drawn from `gaps_ms` (as `monologue` joins its phrases) so that none ends the turn
    early."""
    ends = [(name, at) for name in RECORDINGS for at in SENTENCE_ENDS[name]]
    name, at = ends[seed % len(ends)]
    audio = recording(name)
    low, high = gaps_ms
    spans = _voiced_frames(audio, max(high, FRAME_MS))  # phrases with no longer pause inside
    last = min(range(len(spans)), key=lambda i: abs(spans[i][1] * FRAME_MS / 1000 - at))
    first = last
    while first > 0 and sum(e - s for s, e in spans[first : last + 1]) * FRAME_MS < seconds * 1000:
        first -= 1
    rng = np.random.default_rng(seed)
    out = bytearray()
    for index in range(first, last + 1):
        if index > first:
            out += silence(int(rng.integers(low // FRAME_MS, high // FRAME_MS + 1)) * FRAME_MS)
        start, end = spans[index]
        out += audio[start * FRAME_BYTES : end * FRAME_BYTES]
    return bytes(out)


def _phrases(min_pause_ms: int) -> list[bytes]:
    """Every phrase of every recording, in reading order: voiced spans cut at the recording's own
    pauses of `min_pause_ms` or more, so no phrase holds a longer pause."""
    found: list[bytes] = []
    for name in RECORDINGS:
        audio = recording(name)
        for start, end in _voiced_frames(audio, min_pause_ms):
            found.append(audio[start * FRAME_BYTES : end * FRAME_BYTES])
    return found


def monologue(
    seconds: float = 20.0, *, gaps_ms: tuple[int, int] = (150, 300), seed: int = 0
) -> bytes:
    """A caller who keeps talking: real phrases joined by silences drawn from `gaps_ms`.

    The phrases are cut from the recordings at pauses of gaps_ms[1] or more and follow each other
    in reading order from a seeded starting phrase, so the caller never pauses longer than
    gaps_ms[1]. The result ends on a voiced frame, within gaps_ms[1] (plus one 10 ms frame) short
    of `seconds`. Gaps are whole 10 ms frames, which keeps every phrase on the energy measure's
    frame grid (so `voiced_spans` of the result sees the gaps exactly as drawn)."""
    low, high = gaps_ms
    if not 0 <= low <= high:
        raise ValueError(f"gaps_ms must be (low, high) with 0 <= low <= high, not {gaps_ms}")
    rng = np.random.default_rng(seed)
    phrases = _phrases(max(high, FRAME_MS))
    index = int(rng.integers(len(phrases)))
    out = bytearray()
    limit = int(seconds * SAMPLE_RATE)
    while len(out) < limit:
        if out:
            out += silence(int(rng.integers(low // FRAME_MS, high // FRAME_MS + 1)) * FRAME_MS)
        out += phrases[index % len(phrases)]
        index += 1
    return _trimmed(bytes(out[:limit]))


# --- synthetic caller sounds ------------------------------------------------------------------


COUGH_PEAK_DBFS = -12.0  # RMS at the peak of the burst: as loud as a shout into the handset


def cough(ms: int = 250, seed: int = 0) -> bytes:
    """A cough (or a door, a knock): loud white noise, no words.

    The envelope rises in 10 ms and then decays exponentially with a time constant of ms/5, so
    the burst is ~43 dB down by its end and drops below VOICED_DBFS about two thirds of the way
    through: no long tail for a test to wait out."""
    count = SAMPLE_RATE * ms // 1000
    t = np.arange(count) / SAMPLE_RATE
    attack_s, decay_s = 0.010, ms / 1000 / 5
    envelope = np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s)
    noise = np.random.default_rng(seed).standard_normal(count)
    peak_rms = 32768 * 10 ** (COUGH_PEAK_DBFS / 20)
    samples = np.clip(noise * envelope * peak_rms, -32768, 32767)
    return pcm16_to_mulaw(samples.astype("<i2").tobytes())


def hum(ms: int, start_hz: float, end_hz: float) -> bytes:
    """A voiced sound whose pitch glides from `start_hz` to `end_hz` (a level, falling or rising
    ending with no words): a fundamental and two harmonics at speech level, in syllables of
    200 ms that dip 12 dB between them, as a voice's loudness does."""
    count = SAMPLE_RATE * ms // 1000
    t = np.arange(count) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(np.linspace(start_hz, end_hz, count)) / SAMPLE_RATE
    wave = np.sin(phase) + 0.6 * np.sin(2 * phase) + 0.3 * np.sin(3 * phase)
    syllables = 0.625 + 0.375 * np.cos(2 * np.pi * t / 0.2)  # 1.0 .. 0.25 (-12 dB)
    rms = 32768 * 10 ** (SPEECH_LEVEL_DBFS / 20)
    samples = wave / np.sqrt(np.mean(wave * wave)) * syllables * rms
    return pcm16_to_mulaw(np.clip(samples, -32768, 32767).astype("<i2").tobytes())


@lru_cache(maxsize=64)
def _spoken(text: str) -> bytes:
    return _trimmed(render_line(text))


def backchannel(word: str = "mhm") -> bytes:
    """A listener's "mhm" / "yeah" / "okay" (espeak-ng), trimmed of leading and trailing
    silence. Cached per word."""
    return _spoken(word)


def command(text: str = "Stop.") -> bytes:
    """A short spoken command such as "Stop." or "Wait." (espeak-ng), trimmed like
    `backchannel`. Cached per text."""
    return _spoken(text)


def with_pause(first: bytes, pause_ms: int, rest: bytes) -> bytes:
    """`first`, then `pause_ms` of digital silence, then `rest`."""
    return first + silence(pause_ms) + rest
