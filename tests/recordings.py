"""Call recordings as the recorder writes them (issue 14): WAV, stereo, 16-bit PCM, 8000 Hz,
left = the caller, right = what the caller heard, sample 0 = the call's `started` time.

Until the recorder lands, replay tests write such files here and store them through the real
store writer (RecordingSaved) as the recorder will.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from console.events import CallEnded, CallEvent, CallStarted, RecordingSaved, TurnCompleted

RATE = 8000


def write_recording(path: Path, caller: np.ndarray, heard: np.ndarray) -> Path:
    """A stereo call recording: `caller` on the left, `heard` on the right (int16 each)."""
    frames = np.stack([caller, heard], axis=1).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(frames.tobytes())
    return path


def noise_recording(path: Path, seconds: float, seed: int = 14) -> tuple[Path, np.ndarray]:
    """Quiet noise on both channels, different at every sample (so a stretch of it tells where
    in the recording it came from); returns the file and what a mono listener hears: the sum."""
    generator = np.random.default_rng(seed)
    count = round(seconds * RATE)
    caller, heard = (generator.integers(-4000, 4000, count, dtype=np.int16) for _ in range(2))
    mix = caller.astype(np.int32) + heard  # 8000 at most: no clipping
    return write_recording(path, caller, heard), mix.astype(np.int16)


def recorded_call(
    sid: str, started: float, turns: list[tuple[str, str, float, float]], wav: Path | None,
    seconds: float,
) -> list[CallEvent]:
    """A finished call's events: `turns` are (role, text, from, to) in seconds into the call;
    with `wav`, the recording the recorder saved."""
    events: list[CallEvent] = [
        CallStarted(sid, stream_sid=f"MZ{sid}", from_number="+15551110001",
                    to_number="+15550001111", profile="scheduling", at=started),
    ]  # fmt: skip
    for role, text, begin, end in turns:
        events.append(TurnCompleted(sid, role=role, text=text, started=started + begin,
                                    ended=started + end, at=started + end))  # fmt: skip
    events.append(CallEnded(sid, reason="caller hung up", at=started + seconds))
    if wav is not None:
        events.append(RecordingSaved(sid, path=str(wav), seconds=seconds, at=started + seconds))
    return events
