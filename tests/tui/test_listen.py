"""Listen-in explains why it cannot work here instead of failing (PROTOCOLS.md section 6)."""

from __future__ import annotations

import sys

import pytest

from console.tui.listen import why_listen_in_unavailable

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
    """Install a stand-in `sounddevice.py` (the real one needs real audio hardware)."""

    def install(source: str) -> None:
        (tmp_path / "sounddevice.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "sounddevice", raising=False)

    return install


def test_listen_in_names_the_missing_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    assert "sounddevice is not installed" in why_listen_in_unavailable(None)


def test_listen_in_names_the_missing_portaudio_library(sounddevice_module) -> None:
    sounddevice_module(NO_PORTAUDIO)
    assert why_listen_in_unavailable(None) == "PortAudio library not found (install libportaudio2)"


def test_listen_in_names_the_missing_output_device(sounddevice_module) -> None:
    sounddevice_module(NO_DEVICE)
    assert why_listen_in_unavailable(None) == "no audio output device (Error querying device -1)"


def test_listen_in_with_a_speaker_still_needs_call_audio_from_the_runtime(
    sounddevice_module,
) -> None:
    sounddevice_module(A_SPEAKER)
    assert why_listen_in_unavailable(None) == "the runtime does not offer call audio yet"
