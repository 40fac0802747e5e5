"""The fake Deepgram's "recogniser": mu-law audio in, Deepgram listen messages out (pure code).

A 20 ms frame whose RMS exceeds `opts.speech_rms` is speech. Time is the audio timeline of one
socket (bytes received / 8000), as Deepgram's `start`/`duration` are, so audio may arrive faster
than real time. Message shapes follow PROTOCOLS.md section 2.1.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

SAMPLE_RATE = 8000  # mu-law, 1 byte per sample
FRAME_BYTES = 160  # 20 ms
FRAME_S = FRAME_BYTES / SAMPLE_RATE
_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
MODEL_INFO = {"name": "general-nova-2", "version": "2024-01-09", "arch": "nova-2"}


class RecognizerOptions(Protocol):
    speech_rms: float
    interim_every_frames: int
    split_finals: bool


class TranscriptSource(Protocol):
    """Hands out the scripted transcripts (FakeDeepgram)."""

    opts: RecognizerOptions

    def next_transcript(self) -> str: ...

    def transcript_done(self) -> None: ...


# --- audio helpers (also used by tests to make "speech") ----------------------------------------


def mulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes -> int32 linear samples (16-bit scale)."""
    code = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, 0x84 - magnitude, magnitude - 0x84)


def mulaw_encode(samples: np.ndarray) -> bytes:
    """Linear samples (16-bit scale) -> G.711 mu-law bytes, as the reference g711.c does it:
    reduce to 14 bits, bias by 33, find the segment, keep 4 mantissa bits, invert."""
    reduced = np.clip(np.asarray(samples, dtype=np.int64), -32768, 32767) >> 2
    mask = np.where(reduced < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(reduced), 8159) + 33
    segment = np.searchsorted(_SEGMENT_ENDS, magnitude)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8).tobytes()


def silence(ms: int) -> bytes:
    return b"\xff" * (SAMPLE_RATE * ms // 1000)


def tone(ms: int, freq: float = 220.0, amplitude: float = 6000.0) -> bytes:
    """A tone burst the fake recogniser counts as speech (RMS ~4200 against a 500 threshold)."""
    t = np.arange(SAMPLE_RATE * ms // 1000) / SAMPLE_RATE
    return mulaw_encode(amplitude * np.sin(2 * np.pi * freq * t))


def frame_rms(frame: bytes) -> float:
    samples = mulaw_decode(frame).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


# --- the listen recogniser (pure: audio in, messages out) ---------------------------------------


@dataclass
class _Utterance:
    words: list[str]
    frames: int = 0
    silence_ms: int = 0
    revealed: int = 0  # words shown so far by interims
    said: int = 0  # words already delivered in a final

    @property
    def half(self) -> int:
        return (len(self.words) + 1) // 2


@dataclass
class Recognizer:
    fake: TranscriptSource
    query: dict[str, str]
    connection: int  # index into fake.listen_audio
    samples: int = 0  # audio timeline of this socket
    speech_frames: int = 0
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _carry: bytes = b""
    _segment_start: float = 0.0  # where the next Results begins: end of the last final
    _utt: _Utterance | None = None
    _last_speech_end: float | None = None  # set until UtteranceEnd goes out

    @property
    def now(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def endpointing_ms(self) -> int | None:
        return _ms(self.query.get("endpointing"), 300)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        data = self._carry + data
        whole = len(data) // FRAME_BYTES * FRAME_BYTES
        self._carry = data[whole:]
        out: list[dict[str, Any]] = []
        for start in range(0, whole, FRAME_BYTES):
            self.samples += FRAME_BYTES
            out += self._frame(data[start : start + FRAME_BYTES])
        return out

    def flush(self, *, from_finalize: bool) -> list[dict[str, Any]]:
        """Finalize -> a final with from_finalize (no speech_final); CloseStream -> speech_final."""
        if self._utt is None:
            return []
        return self._end_utterance(speech_final=not from_finalize, from_finalize=from_finalize)

    def metadata(self) -> dict[str, Any]:
        return {
            "type": "Metadata", "transaction_key": "deprecated", "request_id": self.request_id,
            "sha256": "0" * 64, "created": "2024-08-29T22:37:55.202Z",
            "duration": round(self.now, 3), "channels": 1,
        }  # fmt: skip

    def _frame(self, frame: bytes) -> list[dict[str, Any]]:
        if frame_rms(frame) > self.fake.opts.speech_rms:
            return self._speech()
        return self._silence()

    def _speech(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        self.speech_frames += 1
        if self._utt is None:
            self._utt = _Utterance(self.fake.next_transcript().split())
            self._last_speech_end = None
            if self.query.get("vad_events") == "true":
                out.append(
                    {"type": "SpeechStarted", "channel": [0], "timestamp": self.now - FRAME_S}
                )
        utt = self._utt
        utt.frames, utt.silence_ms = utt.frames + 1, 0
        if self.query.get("interim_results") == "true":
            if utt.frames % max(1, self.fake.opts.interim_every_frames) == 0:
                utt.revealed = min(utt.revealed + 1, len(utt.words))
                out += self._interim_or_split(utt)
        return out

    def _interim_or_split(self, utt: _Utterance) -> list[dict[str, Any]]:
        if self.fake.opts.split_finals and not utt.said and 1 < len(utt.words) <= 2 * utt.revealed:
            utt.said = utt.half
            return [self._results(utt.words[: utt.half], is_final=True)]
        if utt.revealed <= utt.said:
            return []
        return [self._results(utt.words[utt.said : utt.revealed], is_final=False)]

    def _silence(self) -> list[dict[str, Any]]:
        if self._utt is not None:
            self._utt.silence_ms += FRAME_BYTES * 1000 // SAMPLE_RATE
            endpointing = self.endpointing_ms
            if self._utt.silence_ms >= (endpointing or 300):
                return self._end_utterance(speech_final=endpointing is not None)
            return []
        return self._utterance_end()

    def _utterance_end(self) -> list[dict[str, Any]]:
        wait_ms = _ms(self.query.get("utterance_end_ms"), None)
        if self._last_speech_end is None or wait_ms is None:
            return []
        if self.query.get("interim_results") != "true":
            return []
        if self.now - self._last_speech_end < wait_ms / 1000:
            return []
        last, self._last_speech_end = self._last_speech_end, None
        return [{"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": round(last, 3)}]

    def _end_utterance(self, *, speech_final: bool, from_finalize: bool = False) -> list[dict]:
        utt, self._utt = self._utt, None
        assert utt is not None
        self._last_speech_end = self.now - utt.silence_ms / 1000
        self.fake.transcript_done()
        words = utt.words[utt.said :]
        return [self._results(words, True, speech_final=speech_final, from_finalize=from_finalize)]

    def _results(
        self, words: list[str], is_final: bool, *, speech_final: bool = False,
        from_finalize: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        start, end = self._segment_start, self.now
        if is_final:
            self._segment_start = end
        alternative = {
            "transcript": " ".join(words), "confidence": 0.98,
            "words": _word_timings(words, start, end),
        }  # fmt: skip
        return {
            "type": "Results", "channel_index": [0, 1], "duration": end - start, "start": start,
            "is_final": is_final, "speech_final": speech_final, "from_finalize": from_finalize,
            "channel": {"alternatives": [alternative]},
            "metadata": {"request_id": self.request_id, "model_info": MODEL_INFO,
                         "model_uuid": "00000000-0000-0000-0000-000000000000"},
        }  # fmt: skip


def _word_timings(words: list[str], start: float, end: float) -> list[dict[str, Any]]:
    step = (end - start) / max(1, len(words))
    return [
        {"word": word.strip(".,!?").lower(), "start": round(start + i * step, 3),
         "end": round(start + (i + 1) * step, 3), "confidence": 0.98, "punctuated_word": word}
        for i, word in enumerate(words)
    ]  # fmt: skip


def _ms(value: str | None, default: int | None) -> int | None:
    """A query value in ms; "false" disables the feature (None)."""
    if value is None:
        return default
    return None if value == "false" else int(value)
