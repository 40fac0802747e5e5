"""The fake Deepgram's "recogniser": mu-law audio in, Deepgram listen messages out (pure code).

A 20 ms frame whose RMS exceeds `opts.speech_rms` is speech. Time is the audio timeline of one
socket (bytes received / 8000), as Deepgram's `start`/`duration` are, so audio may arrive faster
than real time. Message shapes follow PROTOCOLS.md section 2.1. Sources below: "D:" is a page of
https://developers.deepgram.com/docs/, "O:" an observation of the live service (undocumented).

- An utterance opens on the first speech frame (its onset) and takes the next scripted
  transcript. A script entry of "" is noise (a cough, a door): D: understanding-end-of-speech-
  detection says background noise triggers the VAD, so `SpeechStarted` still fires, but every
  interim and final of it carries an empty transcript.
- With a transcriber (`FakeDeepgram(transcribe=...)`) there is no script: an utterance's words
  are those the transcriber places in the audio since the last final, asked again for every
  interim, at the close, and on each speech frame while an UtteranceEnd is pending (new words
  postpone it, as a scripted utterance's do from its onset). No words: noise, as above.
- `SpeechStarted` (vad_events=true) and interims (interim_results=true) follow the cadence of
  deepgram_cadence.py (realistic by default: 100-200 ms, then 0.6-1.0 s, then every 0.8-1.0 s).
- The final (`is_final` + `speech_final`) goes out once the silence after the last speech frame
  reaches `endpointing` ms. D: endpointing: the VAD waits for that much silence, then finalises
  with speech_final=true; without the query parameter the default is 10 ms. With
  endpointing=false the fake still finalises after 300 ms of silence, without speech_final (a
  simplification: the service then finalises on its own schedule).
- `UtteranceEnd` (utterance_end_ms + interim_results=true, D: utterance-end) goes out once the
  audio has run utterance_end_ms past the end of the last finalised word. It is computed from word
  timings ("a gap of the configured length after the last finalized word"), so an utterance that
  produced no words (noise) never leads to one, and noise does not postpone a pending one.
- `Finalize` (D: finalize) finalises the open utterance at once: is_final, from_finalize=true,
  speech_final=false. `CloseStream` flushes with speech_final=true (PROTOCOLS.md 2.1).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tests.fakes.deepgram_cadence import Cadence, connection_rng, draw_frames

SAMPLE_RATE = 8000  # mu-law, 1 byte per sample
FRAME_BYTES = 160  # 20 ms
FRAME_MS = FRAME_BYTES * 1000 // SAMPLE_RATE
DEFAULT_ENDPOINTING_MS = 10  # D: endpointing, when the query leaves it out
UNENDPOINTED_FINAL_MS = 300  # endpointing=false: the fake's own stand-in (see the docstring)
_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
MODEL_INFO = {"name": "general-nova-2", "version": "2024-01-09", "arch": "nova-2"}


class TimelineOptions(Protocol):
    @property
    def seed(self) -> int: ...

    @property
    def speech_rms(self) -> float: ...


class TimelineSource(Protocol):
    """What every recognizer's timeline reads of the fake: its seed and speech level."""

    @property
    def opts(self) -> TimelineOptions: ...


class RecognizerOptions(Protocol):
    speech_rms: float
    split_finals: bool
    seed: int

    def timing(self) -> Cadence: ...


Transcriber = Callable[[int, float, float], str]
"""(listen connection, start s, end s on that socket's audio timeline) -> the words said there."""


class TranscriptSource(Protocol):
    """Hands out the scripted transcripts (FakeDeepgram), or transcribes by position."""

    opts: RecognizerOptions
    transcribe: Transcriber | None

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
    timing: Cadence
    onset: int  # sample where the first speech frame began
    speech_started_due: int | None  # age in frames; None once sent (or never wanted)
    next_interim: int  # on the cadence's interim clock, in frames
    speech_end: int = 0  # sample where the last speech frame ended
    speech_frames: int = 0
    age_frames: int = 0  # frames since the onset, pauses included
    silence_ms: int = 0
    interims: int = 0
    revealed: int = 0  # words shown so far by interims
    said: int = 0  # words already delivered in a final

    @property
    def half(self) -> int:
        return (len(self.words) + 1) // 2

    @property
    def interim_clock(self) -> int:
        return self.speech_frames if self.timing.interim_clock == "speech" else self.age_frames


@dataclass
class ListenTimeline:
    """What Nova's and Flux's recognisers share: one socket's audio timeline, heard in 20 ms
    frames, its seeded generator, and the log of every message made on it."""

    fake: TimelineSource  # FakeDeepgram: the script and `opts`
    query: dict[str, str]
    connection: int  # index into fake.listen_audio
    samples: int = 0  # audio timeline of this socket
    speech_frames: int = 0
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    """Every message made, with the audio time (s) it was made at: what tests pin cadence on."""
    _rng: random.Random = field(init=False)
    _carry: bytes = b""

    def __post_init__(self) -> None:
        self._rng = connection_rng(self.fake.opts.seed, self.connection)

    @property
    def now(self) -> float:
        return self.samples / SAMPLE_RATE

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        data = self._carry + data
        whole = len(data) // FRAME_BYTES * FRAME_BYTES
        self._carry = data[whole:]
        out: list[dict[str, Any]] = []
        for start in range(0, whole, FRAME_BYTES):
            self.samples += FRAME_BYTES
            out += self._logged(self._frame(data[start : start + FRAME_BYTES]))
        return out

    def is_speech(self, frame: bytes) -> bool:
        return frame_rms(frame) > self.fake.opts.speech_rms

    def opening(self) -> list[dict[str, Any]]:
        """What the server says as the socket opens."""
        raise NotImplementedError

    def control(self, message: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """A client text message -> (replies, close the socket after them)."""
        raise NotImplementedError

    def _frame(self, frame: bytes) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _logged(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.log += [(self.now, message) for message in messages]
        return messages


@dataclass
class Recognizer(ListenTimeline):
    fake: TranscriptSource
    _segment_start: float = 0.0  # where the next Results begins: end of the last final
    _utt: _Utterance | None = None
    _last_word_end: int | None = None  # sample; set from a final with words until UtteranceEnd

    @property
    def endpointing_ms(self) -> int | None:
        return _ms(self.query.get("endpointing"), DEFAULT_ENDPOINTING_MS)

    def opening(self) -> list[dict[str, Any]]:
        return []  # /v1/listen says nothing until there is audio

    def control(self, message: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """A client text message -> (replies, close the socket after them). KeepAlive: none."""
        kind = message.get("type")
        if kind == "Finalize":
            return self.flush(from_finalize=True), False
        if kind == "CloseStream":
            return [*self.flush(from_finalize=False), self.metadata()], True
        return [], False

    def flush(self, *, from_finalize: bool) -> list[dict[str, Any]]:
        """Finalize -> a final with from_finalize (no speech_final); CloseStream -> speech_final."""
        if self._utt is None:
            return []
        ended = self._end_utterance(speech_final=not from_finalize, from_finalize=from_finalize)
        return self._logged(ended)

    def metadata(self) -> dict[str, Any]:
        return {
            "type": "Metadata", "transaction_key": "deprecated", "request_id": self.request_id,
            "sha256": "0" * 64, "created": "2024-08-29T22:37:55.202Z",
            "duration": round(self.now, 3), "channels": 1,
        }  # fmt: skip

    def _frame(self, frame: bytes) -> list[dict[str, Any]]:
        out = self._speech() if self.is_speech(frame) else self._silence()
        if self._utt is not None:
            self._utt.age_frames += 1
            out += self._scheduled(self._utt)
        return out + self._utterance_end()

    # utterances ------------------------------------------------------------------------------

    def _open(self) -> _Utterance:
        words = [] if self.fake.transcribe else self.fake.next_transcript().split()
        if words:
            self._last_word_end = None  # new words close the gap UtteranceEnd was timing
        timing = self.fake.opts.timing()
        speech_started_due: int | None = draw_frames(self._rng, timing.speech_started_delay_s)
        first_interim = draw_frames(self._rng, timing.first_interim_delay_s)
        if self.query.get("vad_events") != "true":
            speech_started_due = None
        return _Utterance(words, timing, self.samples - FRAME_BYTES, speech_started_due,
                          first_interim)  # fmt: skip

    def _speech(self) -> list[dict[str, Any]]:
        self.speech_frames += 1
        if self._utt is None:
            self._utt = self._open()
        utt = self._utt
        utt.speech_frames, utt.silence_ms, utt.speech_end = utt.speech_frames + 1, 0, self.samples
        if self._last_word_end is not None:
            self._transcribed(utt)
        return []

    def _transcribed(self, utt: _Utterance) -> None:
        """With a transcriber: the words of the audio since the last final, as far as it went."""
        if (transcribe := self.fake.transcribe) is None:
            return
        utt.words = transcribe(self.connection, self._segment_start, self.now).split()
        if utt.words:
            self._last_word_end = None  # new words close the gap UtteranceEnd was timing

    def _silence(self) -> list[dict[str, Any]]:
        utt = self._utt
        if utt is None:
            return []
        utt.silence_ms += FRAME_MS
        endpointing = self.endpointing_ms
        if utt.silence_ms >= (UNENDPOINTED_FINAL_MS if endpointing is None else endpointing):
            return self._end_utterance(speech_final=endpointing is not None)
        return []

    def _end_utterance(self, *, speech_final: bool, from_finalize: bool = False
                       ) -> list[dict[str, Any]]:
        utt, self._utt = self._utt, None
        assert utt is not None
        out = self._speech_started(utt)  # still owed: an utterance shorter than the VAD's delay
        if self.fake.transcribe:
            self._transcribed(utt)
        else:
            self.fake.transcript_done()
        if utt.words:
            self._last_word_end = utt.speech_end
        words = utt.words[utt.said :]
        final = self._results(words, True, speech_final=speech_final, from_finalize=from_finalize)
        return [*out, final]

    # scheduled messages ----------------------------------------------------------------------

    def _scheduled(self, utt: _Utterance) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if utt.speech_started_due is not None and utt.age_frames >= utt.speech_started_due:
            out += self._speech_started(utt)
        if self.query.get("interim_results") == "true" and utt.interim_clock >= utt.next_interim:
            out += self._interim(utt)
            utt.next_interim = utt.interim_clock + draw_frames(
                self._rng, utt.timing.interim_interval_s
            )
        return out

    def _speech_started(self, utt: _Utterance) -> list[dict[str, Any]]:
        if utt.speech_started_due is None:
            return []
        utt.speech_started_due = None
        timestamp = round(utt.onset / SAMPLE_RATE, 3)
        return [{"type": "SpeechStarted", "channel": [0], "timestamp": timestamp}]

    def _interim(self, utt: _Utterance) -> list[dict[str, Any]]:
        timing = utt.timing
        self._transcribed(utt)
        more = timing.first_interim_words if utt.interims == 0 else timing.words_per_interim
        utt.revealed = min(len(utt.words), utt.revealed + self._rng.randint(*more))
        utt.interims += 1
        if self.fake.opts.split_finals and not utt.said and 1 < len(utt.words) <= 2 * utt.revealed:
            utt.said = utt.half
            return [self._results(utt.words[: utt.half], is_final=True)]
        return [self._results(utt.words[utt.said : utt.revealed], is_final=False)]

    def _utterance_end(self) -> list[dict[str, Any]]:
        wait_ms = _ms(self.query.get("utterance_end_ms"), None)
        if self._last_word_end is None or wait_ms is None:
            return []
        if self.query.get("interim_results") != "true":
            return []
        if self.samples - self._last_word_end < wait_ms * SAMPLE_RATE // 1000:
            return []
        last, self._last_word_end = self._last_word_end, None
        return [{"type": "UtteranceEnd", "channel": [0, 1],
                 "last_word_end": round(last / SAMPLE_RATE, 3)}]  # fmt: skip

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
