"""The simulated caller's voice: text -> 8 kHz mu-law via the espeak-ng command line.

espeak-ng is robotic but installed everywhere (apt `espeak-ng`), needs no model files and renders
a short sentence in ~50 ms, which is what a test caller needs. The text goes in on stdin so a line
that starts with "-" is never taken for an option.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

from console.simulate.wav import parse_wav, to_mulaw_8k

ESPEAK = "espeak-ng"
RENDER_TIMEOUT_S = 30.0  # a paragraph renders in well under a second; 30 s means it is stuck


class VoiceUnavailable(RuntimeError):
    """espeak-ng is missing or failed."""


def _command(voice: str, words_per_minute: int) -> list[str]:
    executable = shutil.which(ESPEAK)
    if executable is None:
        raise VoiceUnavailable(
            "espeak-ng is not installed; install it (Debian/Ubuntu: apt-get install espeak-ng) "
            "or pass recorded audio with --wav"
        )
    return [executable, "--stdout", "-v", voice, "-s", str(words_per_minute)]


def render_line(text: str, voice: str = "en-us", words_per_minute: int = 165) -> bytes:
    """Speak `text` as 8 kHz mu-law. Blocking (a subprocess): use `render_line_async` in a loop."""
    if not text.strip():
        raise ValueError("cannot speak an empty line")
    try:
        done = subprocess.run(
            _command(voice, words_per_minute),
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=RENDER_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise VoiceUnavailable(f"espeak-ng failed: {error}") from error
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode("utf-8", "replace").strip()[:200]
        raise VoiceUnavailable(f"espeak-ng exited {done.returncode}: {detail}")
    return to_mulaw_8k(parse_wav(done.stdout))


async def render_line_async(text: str, voice: str = "en-us", words_per_minute: int = 165) -> bytes:
    """`render_line` in a worker thread, so the event loop keeps pacing audio meanwhile."""
    return await asyncio.to_thread(render_line, text, voice, words_per_minute)
