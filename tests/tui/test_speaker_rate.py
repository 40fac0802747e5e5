"""Listen-in on a real sound card (issue 15): the speaker is opened at the device's own default
rate, as sounddevice reports it, and the 8 kHz call audio is resampled to it. The device is the
stand-in `sounddevice` module of test_audio_io (this machine has no sound card)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from console import audio_io

A_48K_SPEAKER = """
class PortAudioError(Exception):
    pass

opened = []

def query_devices(kind=None):
    return {"name": "USB headset", "default_samplerate": 48000.0}

class RawOutputStream:
    def __init__(self, **settings):
        self.settings = settings
        self.callback = settings["callback"]
        self.started = False
        opened.append(self)

    def start(self):
        self.started = True

    def stop(self):
        pass

    def close(self):
        pass
"""


@pytest.fixture
def headset(tmp_path, monkeypatch):
    (tmp_path / "sounddevice.py").write_text(A_48K_SPEAKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    import sounddevice

    yield sounddevice
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)


def tone_8k(hz: float, seconds: float) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def test_the_speaker_opens_at_the_devices_rate_and_plays_the_call_audio_resampled(headset):
    source = tone_8k(440, 1.2)
    position = 0

    def fill_8k(outdata, frames, _time, _status) -> None:  # what listen-in gives: 8 kHz
        nonlocal position
        outdata[:] = source[position : position + frames].astype("<i2").tobytes()
        position += frames

    audio_io.open_speaker(fill_8k)
    (stream,) = headset.opened
    assert stream.started
    assert (stream.settings["samplerate"], stream.settings["blocksize"]) == (48000, 960)
    blocks = []
    for _ in range(50):  # 1 s of PortAudio asking for 20 ms at 48 kHz
        out = bytearray(960 * 2)
        stream.callback(memoryview(out), 960, None, None)
        blocks.append(np.frombuffer(bytes(out), dtype="<i2"))
    played = np.concatenate(blocks)[4800:].astype(float)  # past the resampler's start
    spectrum = np.abs(np.fft.rfft(played * np.hanning(len(played))))
    assert abs(np.argmax(spectrum) * 48000 / len(played) - 440) < 3  # same pitch, not 6x
    assert 7600 < np.abs(played).max() < 8400  # same level
    # 8 kHz asked for in real time, plus what the resampler holds back (soxr LQ: 60 ms)
    assert 8000 <= position <= 8000 + 480


def test_a_device_at_8_khz_gets_the_call_audio_untouched(headset, monkeypatch):
    monkeypatch.setattr(headset, "query_devices",
                        lambda kind=None: {"default_samplerate": 8000.0})

    def fill(outdata, frames, _time, _status) -> None:
        outdata[:] = b"\x00\x00" * frames

    audio_io.open_speaker(fill)
    assert headset.opened[-1].callback is fill
    assert headset.opened[-1].settings["blocksize"] == 160
