"""A call's recording on disk: read it for replay, copy it out as an export, and find the
transcript turn under the playhead. Blocking file work: callers on the event loop use threads.

The recorder writes one WAV per call: stereo, 16-bit PCM, 8000 Hz, the caller on the left and
what the caller heard on the right, sample 0 at the call's `started` time (issue 14).
"""

from __future__ import annotations

import bisect
import os
import re
import shutil
import tempfile
import time
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from console.audio_io import SAMPLE_RATE
from console.safe_text import printable
from console.storage.files import private_folder
from console.storage.records import CallRecord, TurnRecord

_SAFE_STEM = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as console.tui.records.export_path


class RecordingUnavailable(RuntimeError):
    """No recording for this call, its file is gone, or it is not one of ours; says which."""


def recording_of(call: CallRecord) -> Path:
    """The call's recording file; RecordingUnavailable when it has none or the file is gone."""
    stored = call.recording_path
    if not stored:
        raise RecordingUnavailable(f"call {printable(call.call_sid)} has no recording")
    path = Path(stored)
    if not path.is_file():
        raise RecordingUnavailable(f"the recording {printable(stored)} is missing")
    return path


def read_recording(path: Path) -> np.ndarray:
    """Both channels summed (clipped) into one int16 signal at 8 kHz: the operator hears the
    caller and what the caller heard together, as in listen-in."""
    with _open_wav(path) as wav:
        channels = wav.getnchannels()
        raw = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    whole = len(raw) // channels * channels  # a crash may leave half a stereo frame
    frames = raw[:whole].reshape(-1, channels).astype(np.int32)
    mixed: np.ndarray = np.clip(frames.sum(axis=1), -32768, 32767)
    return mixed.astype(np.int16)


def _open_wav(path: Path) -> wave.Wave_read:
    try:
        wav = wave.open(str(path), "rb")
    except (OSError, EOFError, wave.Error) as error:
        problem = f"cannot read the recording {printable(path)}: {error}"
        raise RecordingUnavailable(problem) from None
    shape = (wav.getnchannels(), wav.getsampwidth() * 8, wav.getframerate())
    if shape[0] not in (1, 2) or shape[1:] != (16, SAMPLE_RATE):
        wav.close()
        found = f"{shape[0]} channel(s), {shape[1]}-bit, {shape[2]} Hz"
        raise RecordingUnavailable(
            f"{printable(path)} is not a 16-bit 8000 Hz call recording ({found})"
        )
    return wav


# -- export -----------------------------------------------------------------------------------


def wav_export_path(folder: Path, stem: str) -> Path:
    """A new `<stem>-<time>.wav` directly inside `folder` (the rules of the JSON/CSV exports)."""
    if not _SAFE_STEM.fullmatch(stem):
        raise RecordingUnavailable(f"not an export name: {printable(stem)!r}.wav")
    path = (Path(folder) / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.wav").resolve()
    if path.parent != Path(folder).resolve():  # e.g. a symlink with the export's name in it
        raise RecordingUnavailable(f"{path} is not inside the exports folder {folder}")
    return path


def export_recording(source: Path, destination: Path, *, private_parent: bool = True) -> Path:
    """Copy the recording to `destination`, byte for byte, as a 0600 file. Refuses to overwrite
    anything, and to copy a file that is not a call recording. `private_parent`: make the folder
    0700 too (the exports folder is ours; a folder the operator named is theirs)."""
    _open_wav(source).close()
    destination = Path(destination)
    if destination.exists() or destination.is_symlink():
        raise RecordingUnavailable(f"{printable(destination)} already exists: not overwritten")
    if private_parent:
        private_folder(destination.parent)
    elif not destination.parent.is_dir():
        raise RecordingUnavailable(f"no folder {printable(destination.parent)}")
    _copy_private(source, destination)
    return destination


def _copy_private(source: Path, destination: Path) -> None:
    """Beside the destination, then renamed: nobody sees half a file. mkstemp makes it 0600."""
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as recording:
            shutil.copyfileobj(recording, out)
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the transcript under the playhead ---------------------------------------------------------


def turn_at(turns: Sequence[TurnRecord], call_started: float, seconds: float) -> int | None:
    """The index in `turns` of the turn being spoken `seconds` into the recording: of those
    whose [started, ended] holds that moment, the one that began last (a caller cutting in over
    the agent is the newest voice). None in a silence between turns."""
    moment = call_started + seconds
    spans: list[tuple[float, int, float]] = sorted(
        (turn.started, -index, turn.ended)
        for index, turn in enumerate(turns)
        if turn.started is not None and turn.ended is not None
    )
    begun = bisect.bisect_right(spans, (moment, 1))  # spans started at or before the moment
    for _started, negative_index, ended in reversed(spans[:begun]):
        if ended >= moment:
            return -negative_index
    return None
