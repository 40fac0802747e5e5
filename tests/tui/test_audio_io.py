"""The operator's sound card side: mu-law, the listen-in mix, the microphone framer, and why
audio is unavailable (PROTOCOLS.md section 6). Streams are injected fakes: this machine has
PortAudio but no audio device."""

from __future__ import annotations

import asyncio
import sys
import threading

import numpy as np
import pytest

from console import audio_io
from console.audio_codec import decode_samples, encode_samples
from console.audio_io import (
    CallMix,
    JitterBuffer,
    ListenInPlayer,
    MicFramer,
    OperatorMic,
)

SILENCE = b"\xff" * 160


class FakeStream:
    """Stands in for a sounddevice Raw stream; the test plays the PortAudio thread."""

    def __init__(self, callback) -> None:
        self.callback = callback
        self.stopped = self.closed = False

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True

    def pull(self, frames: int = 160) -> np.ndarray:
        """What the speaker would play next: the callback fills a PortAudio-sized buffer."""
        out = bytearray(frames * 2)
        self.callback(memoryview(out), frames, None, None)
        return np.frombuffer(bytes(out), dtype="<i2")

    def capture(self, pcm: np.ndarray) -> None:
        self.callback(pcm.astype("<i2").tobytes(), len(pcm), None, None)


def level(value: int) -> bytes:
    """160 mu-law bytes of one constant sample value."""
    return encode_samples(np.full(160, value, dtype=np.int16))


# --- listen-in ------------------------------------------------------------------------------


def test_the_speaker_hears_caller_and_agent_summed() -> None:
    mix = CallMix()
    for _ in range(3):  # 60 ms primes each leg
        mix.feed("caller", level(1000))
        mix.feed("agent", level(-300))
    heard = np.frombuffer(mix.pull(160), dtype="<i2")
    expected = decode_samples(level(1000)).astype(int) + decode_samples(level(-300))
    assert (heard == expected).all() and abs(int(heard[0]) - 700) < 40


def test_loud_legs_clip_instead_of_wrapping_around() -> None:
    mix = CallMix()
    for _ in range(3):
        mix.feed("caller", level(30000))
        mix.feed("agent", level(30000))
    assert (np.frombuffer(mix.pull(160), dtype="<i2") == 32767).all()


def test_a_leg_stays_silent_until_60_ms_are_queued_then_plays_in_order() -> None:
    buffer = JitterBuffer()
    buffer.push(b"\x01" * 160)
    assert buffer.take(160) == SILENCE  # 20 ms is not enough of a cushion
    buffer.push(b"\x02" * 160 + b"\x03" * 160)
    assert buffer.take(160) == b"\x01" * 160
    assert buffer.take(160) == b"\x02" * 160


def test_a_leg_that_runs_dry_pads_with_silence_and_primes_again() -> None:
    buffer = JitterBuffer()
    buffer.push(b"\x01" * 480)
    assert buffer.take(400) == b"\x01" * 400
    assert buffer.take(160) == b"\x01" * 80 + b"\xff" * 80
    buffer.push(b"\x02" * 160)
    assert buffer.take(160) == SILENCE  # waiting for 60 ms again


def test_a_speaker_that_falls_behind_drops_the_oldest_audio_to_stay_live() -> None:
    buffer = JitterBuffer()
    for value in range(20):  # 400 ms arrive while the speaker is stuck
        buffer.push(bytes([value]) * 160)
    assert buffer.dropped == 800  # 100 ms over the 300 ms bound
    assert buffer.take(160) == bytes([5]) * 160


def test_audio_for_an_unknown_leg_is_ignored() -> None:
    mix = CallMix()
    mix.feed("operator", level(5000))
    assert all(len(leg._audio) == 0 for leg in mix.legs.values())


def test_the_listen_in_player_fills_the_output_stream_from_the_mix() -> None:
    streams: list[FakeStream] = []
    player = ListenInPlayer(lambda callback: streams.append(FakeStream(callback)) or streams[-1])
    player.start()
    for _ in range(3):
        player.mix.feed("agent", level(2000))
    assert abs(int(streams[0].pull()[0]) - 2000) < 70
    player.close()
    assert streams[0].stopped and streams[0].closed


def test_a_stream_that_finishes_opening_after_close_is_closed_at_once() -> None:
    opening, opened = threading.Event(), threading.Event()
    stream = FakeStream(None)

    def slow_open(callback):
        opening.set()
        opened.wait(2)
        return stream

    player = ListenInPlayer(slow_open)
    worker = threading.Thread(target=player.start)
    worker.start()
    opening.wait(2)
    player.close()  # e.g. the console quit while PortAudio was still opening the device
    opened.set()
    worker.join(2)
    assert stream.closed


# --- the microphone -------------------------------------------------------------------------


def test_the_mic_framer_cuts_8_khz_audio_into_20_ms_mulaw_frames() -> None:
    framer = MicFramer(8000)
    assert framer.push(np.zeros(100, dtype="<i2").tobytes()) == []
    frames = framer.push(np.full(250, 1000, dtype="<i2").tobytes())
    assert [len(f) for f in frames] == [160, 160]
    assert frames[1] == level(1000)


def test_the_mic_framer_resamples_a_48_khz_microphone() -> None:
    framer = MicFramer(48000)
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.int16)
    frames = [f for i in range(0, 48000, 960) for f in framer.push(tone[i : i + 960].tobytes())]
    assert len(frames) == 48 and all(len(f) == 160 for f in frames)  # 1 s less ~34 ms held
    peak = np.abs(decode_samples(b"".join(frames[10:]))).max()
    assert 7000 < peak < 9000


async def test_mic_frames_captured_on_the_audio_thread_arrive_on_the_loop_in_order() -> None:
    streams: list[FakeStream] = []
    mic = OperatorMic(lambda callback: (streams.append(FakeStream(callback)) or streams[-1], 8000))
    await asyncio.to_thread(mic.open, asyncio.get_running_loop())

    def speak() -> None:  # PortAudio's thread, 20 ms at a time
        for value in (100, 200, 300):
            streams[0].capture(np.full(160, value, dtype=np.int16))

    await asyncio.to_thread(speak)
    frames = mic.frames()
    received = [await asyncio.wait_for(anext(frames), 2) for _ in range(3)]
    assert received == [level(100), level(200), level(300)]
    mic.close()
    assert streams[0].closed


async def test_a_mic_the_loop_cannot_keep_up_with_keeps_the_newest_200_ms() -> None:
    streams: list[FakeStream] = []
    mic = OperatorMic(lambda callback: (streams.append(FakeStream(callback)) or streams[-1], 8000))
    mic.open(asyncio.get_running_loop())
    for value in range(15):
        streams[0].capture(np.full(160, value * 100, dtype=np.int16))
    await asyncio.sleep(0)  # the loop runs the deliveries queued by the audio thread
    frames = mic.frames()
    first = await asyncio.wait_for(anext(frames), 2)
    assert mic.dropped == 5 and first == level(500)


# --- why there is no audio --------------------------------------------------------------------

NO_PORTAUDIO = "raise OSError('PortAudio library not found')\n"
NO_DEVICE = """
class PortAudioError(Exception):
    pass

def query_devices(kind=None):
    raise PortAudioError('Error querying device -1')
"""
A_SPEAKER = (
    "class PortAudioError(Exception):\n    pass\n\ndef query_devices(kind=None):\n    return {}\n"
)


@pytest.fixture
def sounddevice_module(tmp_path, monkeypatch):
    """Install a stand-in `sounddevice.py` for the cases this machine cannot show."""

    def install(source: str) -> None:
        (tmp_path / "sounddevice.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        # setitem first so that undoing it removes the stand-in even when no real sounddevice
        # was loaded before (a later test in this process would get the stand-in otherwise).
        monkeypatch.setitem(sys.modules, "sounddevice", None)
        monkeypatch.delitem(sys.modules, "sounddevice")

    return install


def test_no_audio_names_the_missing_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    assert "sounddevice is not installed" in audio_io.why_no_device("output")


def test_no_audio_names_the_missing_portaudio_library(sounddevice_module) -> None:
    sounddevice_module(NO_PORTAUDIO)
    assert audio_io.why_no_device("output") == (
        "PortAudio library not found (install libportaudio2)"
    )


def test_no_audio_names_the_missing_device_kind(sounddevice_module) -> None:
    sounddevice_module(NO_DEVICE)
    assert audio_io.why_no_device("input") == "no audio input device (Error querying device -1)"


def test_a_machine_with_a_speaker_has_audio(sounddevice_module) -> None:
    sounddevice_module(A_SPEAKER)
    assert audio_io.why_no_device("output") is None


def test_this_machine_without_a_sound_card_says_so_through_real_portaudio() -> None:
    sd = pytest.importorskip("sounddevice", exc_type=OSError)
    try:
        sd.query_devices(kind="output")
        pytest.skip("this machine has an audio output device")
    except sd.PortAudioError:
        pass
    assert audio_io.why_no_device("output") == ("no audio output device (Error querying device -1)")
