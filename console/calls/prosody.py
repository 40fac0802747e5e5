"""How the caller's voice ended: a final fall, a high rise, a level plateau, or unsure.

Words alone cannot tell "I'm calling about my prescription." from "I'm calling about my
prescription [thinking] for blood pressure pills": both are whole sentences. The voice often can.
Gravano & Hirschberg (2011, "Turn-taking cues in task-oriented dialogue", Computer Speech and
Language 25) found that speakers about to give up the turn end with a final fall (L-L%) or a high
rise (H-H%), and speakers about to go on end on a plateau (H-L%, the pitch held level). So:
- FALLING: the voice ends low, or drops over its last 300 ms: done;
- RISING: it ends at or above the speaker's median and still climbing (a high rise, often a
  question said as a statement): done too;
- LEVEL: anything else, the plateau of a speaker holding the floor: may go on.
It is a tendency, not a law: speakers also fall to low and then go on ("Pitch and the Projection
of More Talk", a study of American English telephone calls), and listeners project turn ends from
the words more than from the melody (de Ruiter, Mitterer & Enfield 2006, "Projecting the end of a
speaker's turn", Language 82). So the words decide first (release.py), and only a level voice
holds a reply to words that sound finished a little longer. On real speech (bench/prosody_cue.py)
all 21 labelled sentence ends fall or rise high (19 fall, 2 rise), and 13 of 33 pauses inside a
sentence are level; the mid-sentence-pause bench's whole sentences cut at a thinking pause are
level in 19 of 20.

The measure, numpy only, once per candidate turn end (never per frame), on the last seconds of
the caller's 8 kHz audio:
- pitch every 10 ms over 40 ms Hann windows by normalised autocorrelation, divided by the
  window's own autocorrelation (Boersma 1993, the method of Praat), 70-400 Hz; a frame is voiced
  when it is loud (within 25 dB of the loudest) and periodic (peak >= 0.45, Praat's threshold);
- frames that leap away from their neighbours (octave slips, creak) dropped;
- the ending falls when the last voiced stretch ends well below the speaker's own median in
  this audio, or drops clearly over its last 300 ms; it rises high when it ends at or above that
  median and climbs clearly over its last 300 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cache

import numpy as np

RATE = 8000
HOP = 80  # 10 ms
WINDOW = 320  # 40 ms: two periods of a 70 Hz voice
FFT = 512  # >= WINDOW + the longest lag: the autocorrelation does not wrap where it is read
MIN_HZ, MAX_HZ = 70.0, 400.0
VOICING = 0.45  # normalised autocorrelation peak for a periodic frame (Praat's default)
LOUD_DB = 25.0  # a voiced frame is within this of the loudest 10 ms of the audio
SILENT_DBFS = -45.0  # quieter than this is never voice (the voice activity's minimum)
ANALYSED_S = 2.0  # the caller's audio the measure looks at, up to their last sound
TAIL_S = 0.3  # the ending: the last 300 ms of voiced speech
TAIL_FRAMES = 6  # voiced frames the ending needs to be judged at all (60 ms)
LEAP_ST = 5.0  # a voice glides; a jump this big from one 10 ms frame's neighbours is an error
RANGE_ST = 12.0  # ...and one this far from the speaker's median is not their voice
MIN_RUN = 3  # voiced frames in a row (30 ms) for a stretch of voice
MIN_VOICED = 15  # voiced frames in the audio for a median worth comparing with (150 ms)


class Ending(Enum):
    FALLING = "falling"  # ends low, or dropping: sounds done
    RISING = "rising"  # ends high and climbing (a high rise): sounds done, asking
    LEVEL = "level"  # a plateau, neither: may go on
    UNKNOWN = "unknown"  # too little voice to tell (a whisper, a cough, noise)


@dataclass(frozen=True)
class FallRule:
    below_median_st: float = 2.0
    """The ending's pitch this many semitones under the speaker's median (in the audio looked
    at) is a final fall."""
    drop_st: float = 2.0
    """...or it drops this many semitones over its last 300 ms (a fit through the frames)."""
    above_median_st: float = 0.0
    """The ending's pitch at least this many semitones over the median (at or above it: a rise
    that stays low is the plateau's "continuation rise")..."""
    rise_st: float = 2.0
    """...and climbing this many over its last 300 ms is a high rise."""


@dataclass(frozen=True)
class Verdict:
    ending: Ending
    median_hz: float = 0.0  # the speaker's median pitch in the audio
    end_st: float = 0.0  # the ending's pitch, semitones from that median
    drop_st: float = 0.0  # fall over the last 300 ms (positive: falling)
    voiced_frames: int = 0


def ending_of(mulaw: bytes, rule: FallRule | None = None) -> Verdict:
    """How the caller's last voiced stretch in `mulaw` (8 kHz mu-law, trailing silence allowed)
    ended."""
    samples = _recent_voice(_decode(mulaw))
    f0 = pitch_track(samples)
    voiced = np.flatnonzero(f0 > 0)
    if voiced.size >= MIN_VOICED:
        f0, voiced = _smooth(f0[voiced], voiced)
    if voiced.size < MIN_VOICED:
        return Verdict(Ending.UNKNOWN, voiced_frames=int(voiced.size))
    return _judge(f0, voiced, rule or FallRule())


def pitch_track(samples: np.ndarray) -> np.ndarray:
    """F0 in Hz every 10 ms (0: unvoiced) of float samples at 8 kHz."""
    if samples.size < WINDOW:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW)[::HOP]
    loud = _loud(frames)
    f0 = np.zeros(len(frames))
    if loud.any():
        f0[loud] = _periods(frames[loud])
    return f0


def _decode(mulaw: bytes) -> np.ndarray:
    return _table()[np.frombuffer(mulaw, dtype=np.uint8)]


@cache
def _table() -> np.ndarray:
    """mu-law byte -> sample in [-1, 1) (G.711, as console.telephony.audio decodes it)."""
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, 0x84 - magnitude, magnitude - 0x84) / 32768.0


def _recent_voice(samples: np.ndarray) -> np.ndarray:
    """The last ANALYSED_S up to the caller's last loud 10 ms (the silence after it cut off)."""
    levels = _dbfs(samples[: samples.size // HOP * HOP].reshape(-1, HOP))
    loud = np.flatnonzero((levels > SILENT_DBFS) & (levels > levels.max(initial=-120) - LOUD_DB))
    if loud.size == 0:
        return samples[:0]
    end = (int(loud[-1]) + 1) * HOP
    return samples[max(0, end - int(ANALYSED_S * RATE)) : end]


def _dbfs(frames: np.ndarray) -> np.ndarray:
    levels: np.ndarray = 10 * np.log10(np.mean(frames * frames, axis=-1) + 1e-12)
    return levels


def _loud(frames: np.ndarray) -> np.ndarray:
    levels = _dbfs(frames)
    loud: np.ndarray = (levels > SILENT_DBFS) & (levels > levels.max() - LOUD_DB)
    return loud


def _periods(frames: np.ndarray) -> np.ndarray:
    """F0 (0: not periodic) of each frame: the best normalised autocorrelation peak."""
    window = _hann()
    x = (frames - frames.mean(axis=1, keepdims=True)) * window
    r = np.fft.irfft(np.abs(np.fft.rfft(x, FFT)) ** 2, FFT)[:, : _max_lag() + 2]
    r = r / np.maximum(r[:, :1], 1e-12) / _window_r()[: r.shape[1]]
    lo, hi = _min_lag(), _max_lag()
    lag = lo + _first_peak(r[:, lo - 1 : hi + 2])
    strength = r[np.arange(len(r)), lag]
    # A peak on the range's edge is the slope of something outside it (a hiss reads as 400 Hz).
    inside = (lag > lo) & (lag < hi)
    return np.where((strength >= VOICING) & inside, RATE / _refined(r, lag), 0.0)


def _first_peak(r: np.ndarray) -> np.ndarray:
    """Index (into r[:, 1:-1]) of the shortest-lag local maximum within 10 % of the best: a
    periodic frame peaks at every multiple of its period, and the window correction leaves
    them near equal, so the best alone often reads half or a third of the pitch."""
    inner = r[:, 1:-1]
    peak = (inner >= r[:, :-2]) & (inner >= r[:, 2:])
    near_best = inner >= 0.9 * inner.max(axis=1, keepdims=True)
    first: np.ndarray = np.argmax(peak & near_best, axis=1)
    return first


def _refined(r: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """The peak's lag between samples (a parabola through it and its neighbours)."""
    rows = np.arange(len(r))
    left, mid, right = r[rows, lag - 1], r[rows, lag], r[rows, lag + 1]
    bend = left - 2 * mid + right
    shift = np.where(bend < 0, 0.5 * (left - right) / np.where(bend < 0, bend, -1.0), 0.0)
    refined: np.ndarray = lag + np.clip(shift, -0.5, 0.5)
    return refined


@cache
def _hann() -> np.ndarray:
    return np.hanning(WINDOW)


@cache
def _window_r() -> np.ndarray:
    """The Hann window's own normalised autocorrelation: dividing by it undoes the taper's
    bias against long lags (Boersma 1993)."""
    w = _hann()
    r = np.fft.irfft(np.abs(np.fft.rfft(w, FFT)) ** 2, FFT)
    normalised: np.ndarray = np.maximum(r / r[0], 1e-3)
    return normalised


def _min_lag() -> int:
    return int(RATE // MAX_HZ)


def _max_lag() -> int:
    return int(np.ceil(RATE / MIN_HZ))


def _smooth(f0: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop what a voice does not do: frames that leap away from their neighbours (an octave
    slip, a creak: more than 5 semitones from the median of the five voiced frames around
    them), frames an octave or more from the speaker's median (a hiss read as a pitch), and
    voiced runs shorter than 30 ms."""
    padded = np.pad(f0, 2, mode="edge")
    local = np.sort(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)[:, 2]
    keep = (np.abs(12 * np.log2(f0 / local)) <= LEAP_ST) & _long_runs(at)
    keep &= np.abs(12 * np.log2(f0 / np.median(f0[keep] if keep.any() else f0))) < RANGE_ST
    return f0[keep], at[keep]


def _long_runs(at: np.ndarray) -> np.ndarray:
    """Frames in runs of at least MIN_RUN consecutive voiced frames."""
    starts = np.flatnonzero(np.diff(at, prepend=at[0] - 2) != 1)
    lengths = np.diff(np.append(starts, at.size))
    return np.repeat(lengths >= MIN_RUN, lengths)


def _judge(f0: np.ndarray, at: np.ndarray, rule: FallRule) -> Verdict:
    median = float(np.median(f0))
    st = 12 * np.log2(f0 / median)
    tail = at >= at[-1] - round(TAIL_S * RATE / HOP)
    if tail.sum() < TAIL_FRAMES:
        return Verdict(Ending.UNKNOWN, median, voiced_frames=int(at.size))
    end_st = float(np.median(st[tail][-TAIL_FRAMES:]))
    drop = -_slope(at[tail] * HOP / RATE, st[tail]) * TAIL_S
    return Verdict(_shape(end_st, drop, rule), round(median, 1), round(end_st, 2), round(drop, 2),
                   int(at.size))


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y over x, in plain arithmetic: np.polyfit would go through LAPACK,
    whose BLAS threads contend with the event loop on a busy core."""
    dx = x - x.mean()
    return float(np.dot(dx, y - y.mean()) / max(float(np.dot(dx, dx)), 1e-12))


def _shape(end_st: float, drop: float, rule: FallRule) -> Ending:
    if end_st <= -rule.below_median_st or drop >= rule.drop_st:
        return Ending.FALLING
    if end_st >= rule.above_median_st and -drop >= rule.rise_st:
        return Ending.RISING
    return Ending.LEVEL
