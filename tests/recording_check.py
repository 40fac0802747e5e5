"""Reading a call recording back and comparing it with what the simulated caller heard."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from console import events as ev
from console.audio_codec import FRAME_BYTES, mulaw_to_pcm16

FRAME = FRAME_BYTES  # 160 samples: the tolerance "within one 20 ms frame"


def read_stereo(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) int16 channels of a recording; checks the format the players rely on."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return frames[0::2], frames[1::2]


def pcm(mulaw: bytes) -> np.ndarray:
    return np.frombuffer(mulaw_to_pcm16(mulaw), dtype="<i2")


def sound_runs(samples: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each stretch of sound, stretches being apart by a frame of silence."""
    loud = np.flatnonzero(samples)
    if loud.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(loud) > FRAME)
    starts = [loud[0], *loud[breaks + 1]]
    ends = [*loud[breaks] + 1, loud[-1] + 1]
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def find_near(haystack: np.ndarray, needle: np.ndarray, at: int, slack: int = FRAME) -> int | None:
    """Where `needle` occurs in `haystack` within `slack` samples of `at`, else None."""
    low = max(0, at - slack)
    window = haystack[low: at + slack + len(needle)]
    if len(window) < len(needle):
        return None
    views = np.lib.stride_tricks.sliding_window_view(window, len(needle))
    hits = np.flatnonzero((views == needle).all(axis=1))
    return low + int(hits[0]) if hits.size else None


def mismatches(recorded: np.ndarray, heard: np.ndarray) -> list[str]:
    """Each stretch the caller heard is in the recording within a frame of its place, sample for
    sample, and as long within a frame (a cut is where the caller's playout cut); and the
    recording has no stretch the caller did not hear. Empty when they match."""
    problems: list[str] = []
    ours, theirs = sound_runs(recorded), sound_runs(heard)
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} stretches of sound recorded, {len(theirs)} heard")
    for (s, e), (rs, re_) in zip(theirs, ours, strict=False):
        common = min(e - s, re_ - rs)
        if abs(rs - s) > FRAME or abs((re_ - rs) - (e - s)) > FRAME:
            problems.append(f"heard {s}-{e}, recorded {rs}-{re_}")
        elif not np.array_equal(heard[s: s + common], recorded[rs: rs + common]):
            problems.append(f"stretch at {s / 8000:.2f} s differs sample for sample")
    return problems


def span_redacted(call_sid: str, started: float, ended: float) -> ev.CallerSpanRedacted:
    """What redaction publishes when it hid a card the caller said between two epoch times."""
    return ev.CallerSpanRedacted(call_sid, started=started, ended=ended, what="card")
