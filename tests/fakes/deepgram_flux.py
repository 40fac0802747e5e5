"""The fake Deepgram's Flux "model": mu-law audio in, `/v2/listen` messages out (pure code).

Served by FakeDeepgram (deepgram_fake.py) at `/v2/listen`, driven by the same `script` of
transcripts as the v1 recogniser. Time is the socket's audio timeline (bytes received / 8000), as
in deepgram_recognizer.py: a 20 ms frame whose RMS exceeds `opts.speech_rms` is speech. Message
shapes follow PROTOCOLS.md 2.3 and the deepgram-sdk 7.17 models. Sources: "D:" is a page of
https://developers.deepgram.com/docs/, "O:" an observation or assumption the documentation does
not state (third-party figures say whose they are).

Turns. A *burst* is speech up to a pause the model takes seriously (below); each burst takes the
next script entry, and a turn's transcript is its bursts' entries joined. Entries are consumed
only when the turn ends (EndOfTurn), so a socket dropped mid-turn and replayed hears them again.
- `Connected` first (PROTOCOLS.md 2.3, the SDK's ListenV2Connected; sequence_id 0, then +1 for
  every message the server sends, as the SDK's models describe it).
- `StartOfTurn` once the first word is heard: 0.25-0.40 s of audio after the onset (O; D:
  flux/state's lifecycle example sends it with the first two words, and says every StartOfTurn
  carries a non-empty transcript). A burst shorter than that gets it at the pause, owed.
- `Update` whenever 0.25 s of audio has passed since the last TurnInfo, turn or no turn, with
  empty transcripts when nothing was said (D: flux/state: "approximately every 0.25 seconds of
  transcribed audio, regardless of transcript updates, unless a state change has occurred";
  its example opens with empty Updates). While a burst lasts its words show as a growing prefix,
  2.5 words a second of speech (O: a conversational 150 words a minute), at least one.
- End of turn: the model's `end_of_turn_confidence` grows with the silence after the last
  word: 0.7 at 260 ms, plus 0.1 per 75 ms more (or less), within 0.01-0.99. `EagerEndOfTurn`
  fires when it reaches `eager_eot_threshold`, `EndOfTurn` (trigger "model") when it reaches
  `eot_threshold`, so a higher threshold fires later. Where the numbers come from: D:
  flux/quickstart: "~260 ms end-of-turn detection" (at the default eot_threshold 0.7); D:
  flux/configuration: higher thresholds = later and fewer false ends, lower eager = earlier and
  more false starts; O (Telnyx's Flux parameter page): eager 0.3-0.5 saves ~150-250 ms, and
  Telnyx's release note: a median ~150 ms. So with eot 0.7: eager 0.5 fires at 110 ms (150 ms
  early; 120 ms, on the next 20 ms frame), eager 0.3 on the first silent frame (~240 ms early);
  eot 0.5 ends at 110 ms, eot 0.9 at 410 ms; eot 1.0 is
  never reached (D: flux/own-turn-detection: 1.0 suppresses natural EndOfTurn). A burst ends
  (its words are all revealed, and speech after it is a new burst) when the silence reaches
  the point the eager threshold (or without one the eot threshold) would fire.
- A stand-in for the model's sense of an unfinished sentence: an entry ending in "," or "..."
  or in a conjunction or filler ("and", "but", "so", "because", "um" ...) keeps the confidence
  at 0.2 or below, so neither EagerEndOfTurn nor a model EndOfTurn fires: the caller either goes
  on or `eot_timeout_ms` of silence ends the turn (trigger "timeout"; D: flux/configuration:
  "maximum silence duration before forcing EndOfTurn", default 5000).
- Speech after an EagerEndOfTurn is `TurnResumed`, at the same delay as StartOfTurn (D:
  flux/state: only ever after an EagerEndOfTurn, and before any change of the transcript), so
  `EndOfTurn`'s transcript always equals the last EagerEndOfTurn's (an older version of that page
  said they differ ~1% of the time; the fake keeps the current promise). `turn_index`
  increments after EndOfTurn; `trigger` is on EndOfTurn only (deepgram-sdk's ListenV2TurnInfo).
- Noise (a script entry of ""): no words, so no StartOfTurn (D: flux/state says every
  StartOfTurn has words), no EagerEndOfTurn (never empty), no EndOfTurn and no TurnResumed;
  Updates go on, empty. Noise is not speech to the end-of-turn confidence either.
- `ForceEndTurn` ends the turn at once on the whole of what was said (trigger "manual", D:
  flux/force-end-turn); with no turn in progress it is ignored (D: voice-agent-force-end-turn
  says so of the agent API; O for /v2/listen). `CloseStream` does the same, then closes 1000
  (O: how Flux flushes is not documented). `Configure` with `thresholds` is answered
  `ConfigureSuccess` with all three values, or `ConfigureFailure` out of range (D:
  flux/configure; the ranges of flux/configuration: eot 0.5-1.0, eager 0.3-0.9 and <= eot,
  eot_timeout_ms 500-60000 (older pages: 500-10000)). Out-of-range thresholds in the query are
  refused at the handshake with 400 (deepgram_fake.py), as for any bad parameter.
- 10 s with no audio closes the socket (1011 NET-0001, `opts.idle_timeout_s`): O, assumed as for
  /v1/listen; Flux has no KeepAlive message, so DeepgramFluxSTT sends a little silence instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.fakes.deepgram_cadence import FRAME_S, draw_frames
from tests.fakes.deepgram_recognizer import SAMPLE_RATE, ListenTimeline

FRAME_MS = round(FRAME_S * 1000)
UNFINISHED = frozenset({"and", "but", "or", "so", "because", "with", "to", "the", "a", "um", "uh"})
UNFINISHED_CONFIDENCE = 0.2
SPEAKING_CONFIDENCE = 0.1  # D: flux/state's example reports 0.1 while the caller talks


@dataclass(frozen=True)
class FluxTiming:
    start_delay_s: tuple[float, float] = (0.25, 0.40)
    """Onset -> StartOfTurn (or TurnResumed), on the audio clock (O, see the module docstring)."""
    update_interval_s: float = 0.25
    """Audio between TurnInfo messages when nothing else is said (D: flux/state)."""
    eot_silence_ms: float = 260.0
    """Silence after the last word at which the confidence reaches 0.7 (D: flux/quickstart)."""
    ms_per_confidence: float = 750.0
    """Silence per unit of confidence: 75 ms per 0.1 (O: from Telnyx's eager savings)."""
    words_per_s: float = 2.5
    """How fast Updates reveal a burst's words (O: 150 words a minute)."""


@dataclass(frozen=True)
class Thresholds:
    eot: float = 0.7
    eager: float | None = None  # unset: no EagerEndOfTurn / TurnResumed (D: flux/configuration)
    timeout_ms: int = 5000

    def problem(self) -> str | None:
        """Why Deepgram would refuse these (D: flux/configuration), or None."""
        if not 0.5 <= self.eot <= 1.0:
            return f"eot_threshold must be between 0.5 and 1.0, got {self.eot}"
        if self.eager is not None and not 0.3 <= self.eager <= min(0.9, self.eot):
            return f"eager_eot_threshold must be 0.3-0.9 and <= eot_threshold, got {self.eager}"
        if not 500 <= self.timeout_ms <= 60000:
            return f"eot_timeout_ms must be between 500 and 60000, got {self.timeout_ms}"
        return None

    @classmethod
    def parse(cls, values: dict[str, Any], base: Thresholds | None = None) -> Thresholds:
        """From a query or a Configure's `thresholds`; what is missing stays as in `base`."""
        base = base or cls()
        eager = values.get("eager_eot_threshold", base.eager)
        return cls(
            float(values.get("eot_threshold", base.eot)),
            None if eager is None else float(eager),
            int(values.get("eot_timeout_ms", base.timeout_ms)),
        )


class FluxOptions(Protocol):
    speech_rms: float
    seed: int
    flux: FluxTiming


class ScriptSource(Protocol):
    """Hands out the scripted transcripts (FakeDeepgram)."""

    opts: FluxOptions

    def transcript_at(self, index: int) -> str: ...

    def transcript_done(self) -> None: ...


def sounds_unfinished(words: list[str]) -> bool:
    """The stand-in for the model hearing that a sentence goes on (see the module docstring)."""
    if not words:
        return False
    last = words[-1]
    return last.endswith((",", "...")) or last.lower().strip(".,!?") in UNFINISHED


@dataclass
class _Burst:
    words: list[str]  # its script entry; none for noise
    announce_due: int  # frames after the onset when StartOfTurn / TurnResumed is due
    frames: int = 0  # since the onset
    speech_frames: int = 0
    quiet_frames: int = 0  # since its last speech frame
    announced: bool = False


@dataclass
class _Turn:
    index: int = 0
    start: int = 0  # sample where its audio window starts
    words: list[str] = field(default_factory=list)  # of the bursts that ended
    unfinished: bool = False  # its last burst sounds unfinished
    started: bool = False  # StartOfTurn was sent
    eager_text: str | None = None  # the EagerEndOfTurn transcript standing (not resumed)


@dataclass
class FluxRecognizer(ListenTimeline):
    fake: ScriptSource
    thresholds: Thresholds = field(init=False)
    _sequence: int = 0
    _last_info: int = 0  # sample of the last TurnInfo
    _last_word: int = 0  # sample where the last speech frame with words ended
    _pending: int = 0  # script entries taken since the last EndOfTurn (not consumed yet)
    _burst: _Burst | None = None
    _turn: _Turn = field(default_factory=_Turn)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.thresholds = Thresholds.parse(self.query)

    @property
    def timing(self) -> FluxTiming:
        return self.fake.opts.flux

    def opening(self) -> list[dict[str, Any]]:
        return self._logged([self._message("Connected")])

    def control(self, message: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """A client text message -> (replies, close the socket after them)."""
        kind = message.get("type")
        if kind in ("ForceEndTurn", "CloseStream"):
            return self._logged(self._force_end()), kind == "CloseStream"
        if kind == "Configure":
            return self._logged([self._configure(message.get("thresholds") or {})]), False
        return [], False

    def error(self, code: str, description: str = "The fake failed on purpose."
              ) -> dict[str, Any]:
        """A fatal `Error` (the socket closes after it)."""
        return self._logged([self._message("Error", code=code, description=description)])[0]

    # frames -----------------------------------------------------------------------------------

    def _frame(self, frame: bytes) -> list[dict[str, Any]]:
        out = self._speech() if self.is_speech(frame) else self._quiet()
        burst = self._burst
        if burst is not None:
            burst.frames += 1
            if burst.words and not burst.announced and burst.frames >= burst.announce_due:
                out += self._announce(burst)
        if (burst is None or not burst.words) and self._turn.words:
            out += self._maybe_end()  # noise does not hold a turn open
        if self.samples - self._last_info >= self.timing.update_interval_s * SAMPLE_RATE:
            out.append(self._info("Update"))
        return out

    def _speech(self) -> list[dict[str, Any]]:
        self.speech_frames += 1
        if self._burst is None:
            words = self.fake.transcript_at(self._pending).split()
            self._pending += 1
            self._burst = _Burst(words, draw_frames(self._rng, self.timing.start_delay_s))
        self._burst.speech_frames += 1
        self._burst.quiet_frames = 0
        if self._burst.words:
            self._last_word = self.samples
        return []

    def _quiet(self) -> list[dict[str, Any]]:
        burst = self._burst
        if burst is None:
            return []
        burst.quiet_frames += 1
        pause = self.thresholds.eager or self.thresholds.eot
        if burst.quiet_frames * FRAME_MS >= max(FRAME_MS, self._silence_for(pause)):
            return self._end_burst()
        return []

    # bursts and turns --------------------------------------------------------------------------

    def _announce(self, burst: _Burst) -> list[dict[str, Any]]:
        burst.announced = True
        turn = self._turn
        if not turn.started:
            turn.started = True
            return [self._info("StartOfTurn")]
        if turn.eager_text is not None:
            turn.eager_text = None
            return [self._info("TurnResumed")]
        return []

    def _end_burst(self) -> list[dict[str, Any]]:
        """The pause is long enough: the burst's words are all heard; noise leaves no trace."""
        burst, self._burst = self._burst, None
        if burst is None or not burst.words:
            return []
        self._turn.words += burst.words
        self._turn.unfinished = sounds_unfinished(burst.words)
        return [] if burst.announced else self._announce(burst)  # owed: a short burst

    def _maybe_end(self) -> list[dict[str, Any]]:
        turn, limits = self._turn, self.thresholds
        silence_ms = (self.samples - self._last_word) * 1000 / SAMPLE_RATE
        confidence = self._confidence()
        out = []
        if limits.eager is not None and turn.eager_text is None and confidence >= limits.eager:
            out.append(self._info("EagerEndOfTurn"))
            turn.eager_text = self._transcript()
        if confidence >= limits.eot:
            return out + self._end_turn("model")
        if silence_ms >= limits.timeout_ms:
            return out + self._end_turn("timeout")
        return out

    def _end_turn(self, trigger: str) -> list[dict[str, Any]]:
        out = [self._info("EndOfTurn", trigger=trigger)]
        for _ in range(self._pending - (self._burst is not None)):
            self.fake.transcript_done()
        self._pending = int(self._burst is not None)
        self._turn = _Turn(self._turn.index + 1, start=self.samples)
        return out

    def _force_end(self) -> list[dict[str, Any]]:
        out = self._end_burst()  # all its words, now
        return out + self._end_turn("manual") if self._turn.words else out

    def _configure(self, values: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = Thresholds.parse(values, self.thresholds)
        except (TypeError, ValueError):
            return self._message(
                "ConfigureFailure",
                code="INVALID_CONFIGURATION",
                description="thresholds must be numbers",
            )
        if (problem := wanted.problem()) is not None:
            return self._message(
                "ConfigureFailure", code="INVALID_CONFIGURATION", description=problem
            )
        self.thresholds = wanted
        current = {
            "eot_threshold": wanted.eot,
            "eager_eot_threshold": wanted.eager,
            "eot_timeout_ms": wanted.timeout_ms,
        }
        return self._message("ConfigureSuccess", thresholds=current, keyterms=[])

    # the model's numbers --------------------------------------------------------------------------

    def _silence_for(self, confidence: float) -> float:
        """Silence (ms) after the last word at which the confidence reaches `confidence`."""
        timing = self.timing
        return timing.eot_silence_ms + (confidence - 0.7) * timing.ms_per_confidence

    def _confidence(self) -> float:
        if not self._turn.words or (self._burst is not None and self._burst.words):
            return SPEAKING_CONFIDENCE
        timing = self.timing
        silence_ms = (self.samples - self._last_word) * 1000 / SAMPLE_RATE
        confidence = 0.7 + (silence_ms - timing.eot_silence_ms) / timing.ms_per_confidence
        if self._turn.unfinished:
            confidence = min(confidence, UNFINISHED_CONFIDENCE)
        return round(min(0.99, max(0.01, confidence)), 3)

    def _transcript_words(self) -> list[str]:
        burst = self._burst
        if burst is None or not burst.announced:
            return self._turn.words
        heard = int(burst.speech_frames * FRAME_S * self.timing.words_per_s)
        return self._turn.words + burst.words[: max(1, heard)]

    def _transcript(self) -> str:
        return " ".join(self._transcript_words())

    # messages ----------------------------------------------------------------------------------

    def _info(self, event: str, **extra: Any) -> dict[str, Any]:
        self._last_info = self.samples
        words = self._transcript_words()
        return self._message(
            "TurnInfo", event=event, turn_index=self._turn.index,
            audio_window_start=round(self._turn.start / SAMPLE_RATE, 3),
            audio_window_end=round(self.now, 3), transcript=" ".join(words),
            words=_words(words, self._turn.start / SAMPLE_RATE, self._last_word / SAMPLE_RATE),
            end_of_turn_confidence=self._confidence(), **extra,
        )  # fmt: skip

    def _message(self, kind: str, **fields: Any) -> dict[str, Any]:
        message = {"type": kind, "request_id": self.request_id, "sequence_id": self._sequence}
        self._sequence += 1
        return {**message, **fields}


def _words(words: list[str], start: float, end: float) -> list[dict[str, Any]]:
    step = max(0.0, end - start) / max(1, len(words))
    return [
        {"word": word, "confidence": 0.98, "start": round(start + i * step, 3),
         "end": round(start + (i + 1) * step, 3)}
        for i, word in enumerate(words)
    ]  # fmt: skip
