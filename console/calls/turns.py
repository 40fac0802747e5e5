"""Turn-taking: when the caller has finished a turn, and when they are talking over the agent."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.providers.base import TranscriptEvent

# Backchannels that never count as interrupting, however they are transcribed.
_BACKCHANNELS = {"mhm", "mm", "hmm", "uh-huh", "uh", "um", "yeah", "yes", "ok", "okay", "right"}


@dataclass
class CallerTurn:
    text: str
    started: float  # monotonic
    final_at: float  # when the last final arrived


@dataclass
class TurnDetector:
    """Joins the finals of one utterance into one caller turn. A turn ends on `speech_final` or on
    `utterance-end` (Deepgram's backstop when endpointing missed the pause)."""

    _parts: list[str] = field(default_factory=list)
    _started: float | None = None
    _last_final_at: float = 0.0

    def feed(self, event: TranscriptEvent) -> CallerTurn | None:
        if event.kind in ("speech-started", "interim") and self._started is None:
            self._started = event.at
        if event.kind == "final" and event.text.strip():
            self._parts.append(event.text.strip())
            self._last_final_at = event.at
            self._started = self._started if self._started is not None else event.at
            if event.speech_final:
                return self._finish()
        if event.kind == "utterance-end" and self._parts:
            return self._finish()
        return None

    @property
    def pending_text(self) -> str:
        return " ".join(self._parts)

    def _finish(self) -> CallerTurn:
        turn = CallerTurn(" ".join(self._parts), self._started or self._last_final_at,
                          self._last_final_at)
        self._parts, self._started = [], None
        return turn


def counts_as_barge_in(event: TranscriptEvent, min_words: int) -> bool:
    """Whether this transcript event means the caller is really talking over the agent.

    With `min_words` <= 0 any detected speech interrupts (fastest, but "mhm" cuts the agent).
    Otherwise an interim or final needs that many words that are not backchannels."""
    if event.kind == "speech-started":
        return min_words <= 0
    if event.kind not in ("interim", "final"):
        return False
    words = [w.strip(".,!?").lower() for w in event.text.split()]
    meaningful = [w for w in words if w and w not in _BACKCHANNELS]
    return len(meaningful) >= max(min_words, 1)
