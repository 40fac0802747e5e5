"""One stereo WAV (16-bit PCM, 8000 Hz; left = caller, right = what the caller heard), written a
block at a time with its header patched after every block, so a process killed mid-call leaves a
file that any WAV reader opens, holding every block written before the kill.

Blocking: only the recording writer thread calls this. No fsync: a killed process loses nothing
the kernel already has (the page cache outlives it); a power cut may lose the last seconds.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from console.audio_codec import SAMPLE_RATE, mulaw_to_pcm16
from console.storage.files import FILE_MODE

CHANNELS = 2
SAMPLE_BYTES = 2
FRAME_BYTES = CHANNELS * SAMPLE_BYTES  # one stereo sample: 4 bytes
HEADER_BYTES = 44  # RIFF (12) + fmt chunk (24) + data chunk header (8)


def header(data_bytes: int) -> bytes:
    """The canonical 44-byte PCM WAV header for `data_bytes` of stereo 16-bit 8 kHz audio."""
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, CHANNELS, SAMPLE_RATE,
                                    SAMPLE_RATE * FRAME_BYTES, FRAME_BYTES, SAMPLE_BYTES * 8)
            + b"data" + struct.pack("<I", data_bytes))


def interleave(left: bytes, right: bytes) -> bytes:
    """Two mu-law channels of equal length -> interleaved little-endian PCM16 stereo."""
    pcm = np.empty(2 * len(left), dtype="<i2")
    pcm[0::2] = np.frombuffer(mulaw_to_pcm16(left), dtype="<i2")
    pcm[1::2] = np.frombuffer(mulaw_to_pcm16(right), dtype="<i2")
    return pcm.tobytes()


class StereoWav:
    def __init__(self, path: Path, fd: int, frames: int) -> None:
        self.path = path
        self.frames = frames  # stereo samples in the file (and in its header)
        self._fd = fd

    @classmethod
    def create(cls, path: Path) -> StereoWav:
        """A new file, 0600 from its first moment. O_EXCL: never over a file that is there."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.pwrite(fd, header(0), 0)
        return cls(path, fd, 0)

    @classmethod
    def reopen(cls, path: Path) -> StereoWav:
        """A recording already closed (a redaction that came after the call ended)."""
        fd = os.open(path, os.O_RDWR)
        return cls(path, fd, (os.fstat(fd).st_size - HEADER_BYTES) // FRAME_BYTES)

    @property
    def seconds(self) -> float:
        return self.frames / SAMPLE_RATE

    def append(self, left: bytes, right: bytes) -> None:
        """Write one block and patch the header to cover it."""
        if not left:
            return
        os.pwrite(self._fd, interleave(left, right), HEADER_BYTES + self.frames * FRAME_BYTES)
        self.frames += len(left)
        self._patch_header()

    def _patch_header(self) -> None:
        data_bytes = self.frames * FRAME_BYTES
        os.pwrite(self._fd, struct.pack("<I", 36 + data_bytes), 4)
        os.pwrite(self._fd, struct.pack("<I", data_bytes), 40)

    def mute_left(self, start: int, end: int) -> None:
        """Zero the caller's channel over samples [start, end) already in the file."""
        start, end = max(0, start), min(end, self.frames)
        if end <= start:
            return
        offset = HEADER_BYTES + start * FRAME_BYTES
        block = np.frombuffer(os.pread(self._fd, (end - start) * FRAME_BYTES, offset),
                              dtype="<i2").copy()
        block[0::2] = 0
        os.pwrite(self._fd, block.tobytes(), offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

