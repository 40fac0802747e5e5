"""Turn-taking vocabulary: when the caller has finished a turn, and which words are only a
backchannel ("mhm") rather than something to answer or to stop for."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.providers.base import TranscriptEvent

# Said over the agent to show the caller is listening; never an interruption, never answered.
DEFAULT_BACKCHANNELS = frozenset({
    "mhm", "mm", "mmm", "hmm", "uh-huh", "uh", "um", "yeah", "yep", "yes", "ok", "okay",
    "right", "sure", "alright", "i see",
})  # fmt: skip


@dataclass
class CallerTurn:
    text: str
    started: float  # monotonic
    final_at: float  # when the last final arrived
    tentative: bool = False  # the recognizer only thinks the turn is over (Flux's eager end)
    whole_turn: bool = False  # the recognizer restated the whole turn (not a new segment)


def words_of(text: str) -> list[str]:
    return [w for w in (w.strip(".,!?;:…").lower() for w in text.split()) if w]


def is_backchannel(text: str, backchannels: frozenset[str] = DEFAULT_BACKCHANNELS) -> bool:
    """Only backchannel words (or none): "mhm", "yeah okay". One-word commands such as "stop",
    "wait" or "no" are not backchannels: they are the shortest real interruptions."""
    words = words_of(text)
    return " ".join(words) in backchannels or all(w in backchannels for w in words)


@dataclass
class TurnDetector:
    """Joins the finals of one utterance into one caller turn. A turn ends on `speech_final` or on
    `utterance-end` (Deepgram's backstop when endpointing missed the pause). A tentative end
    (Flux's EagerEndOfTurn) reports the turn but keeps it open: the confirmation or the caller's
    next words belong to the same turn."""

    _parts: list[str] = field(default_factory=list)
    _started: float | None = None
    _last_final_at: float = 0.0
    _whole: bool = False

    def feed(self, event: TranscriptEvent) -> CallerTurn | None:
        if event.kind in ("speech-started", "interim") and self._started is None:
            self._started = event.at
        if event.kind == "final" and event.text.strip():
            self._take_final(event)
        if not self._parts or not (event.speech_final or event.kind == "utterance-end"):
            return None
        if event.tentative:
            return CallerTurn(self.pending_text, self._started or event.at, event.at,
                              tentative=True, whole_turn=self._whole)
        return self._finish()

    def _take_final(self, event: TranscriptEvent) -> None:
        self._whole = event.whole_turn
        if event.whole_turn:
            self._parts.clear()  # the recognizer restates the whole turn
        self._parts.append(event.text.strip())
        self._last_final_at = event.at
        self._started = self._started if self._started is not None else event.at

    @property
    def pending_text(self) -> str:
        return " ".join(self._parts)

    def _finish(self) -> CallerTurn:
        turn = CallerTurn(" ".join(self._parts), self._started or self._last_final_at,
                          self._last_final_at, whole_turn=self._whole)
        self._parts, self._started = [], None
        return turn
