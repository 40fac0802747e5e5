"""Can this machine play a call's audio? Listen-in is optional: its absence is explained, not fatal.

`import sounddevice` loads PortAudio and initialises it (PROTOCOLS.md section 6), which can take a
noticeable moment and touches the sound system: call `why_listen_in_unavailable` from a thread
worker, never on the event loop.
"""

from __future__ import annotations

from console.tui.backend import ListenInSource


def why_listen_in_unavailable(source: ListenInSource | None) -> str | None:
    """None when listen-in can work here, else the reason in words an operator can act on."""
    reason = _why_no_output_device()
    if reason is None and source is None:
        reason = "the runtime does not offer call audio yet"
    return reason


def _why_no_output_device() -> str | None:
    try:
        import sounddevice as sd
    except ImportError:
        return "sounddevice is not installed (pip install 'voiceconsole[audio]')"
    except OSError as error:  # the PortAudio shared library itself is missing
        return f"{error} (install libportaudio2)"
    try:
        sd.query_devices(kind="output")
    except sd.PortAudioError as error:
        return f"no audio output device ({error})"
    except ValueError as error:  # sounddevice's answer when no device of that kind exists
        return f"no audio output device ({error})"
    return None
