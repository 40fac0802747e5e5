"""One call's risk, kept current as its events arrive: each event updates a few counters of the
call's `Signals` (a caller turn is read once, when it completes), then `assess` runs on them
(ten small rules). Nothing is rescanned, so an event costs microseconds whatever the call's
length (bench/scaling.py --console measures it at 50 calls)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.events import (
    AgentSpoke,
    AlertRaised,
    CallerTranscribed,
    CallerWentQuiet,
    CallEvent,
    EmergencyDetected,
    ProviderDegraded,
    TransferAttempted,
    TransferFinished,
    TurnCompleted,
    TurnMeasured,
)
from console.risk import words
from console.risk.score import Assessment, RiskWeights, Signals, assess

# TurnMeasured.stages key for speech end -> first frame sent (DESIGN.md's latency vocabulary).
V2V_KEYS = ("voice_to_voice", "voice-to-voice", "v2v")
# A <Dial> that ended like this did not reach the target (Twilio's DialCallStatus values).
UNANSWERED = frozenset({"no-answer", "busy", "failed", "canceled"})
RISING_S = 30.0  # a score that went up this recently is "rising" (RISK_RISING_S)
QUESTION_MEMORY = 20  # the caller's last distinct questions compared with each new turn


@dataclass(frozen=True)
class ProfileCues:
    """What the call's profile tells the score: its emergency phrases (for near misses) and its
    apology line (an agent line that says it is the apology)."""

    emergency_phrases: tuple[str, ...] = ()
    apology: str = ""

    def apology_words(self) -> tuple[str, ...]:
        first = self.apology.split(".")[0]  # the line is spoken sentence by sentence
        return words.normalized([first]) if first.strip() else ()


class RiskTracker:
    def __init__(self, weights: RiskWeights,
                 negative_words: tuple[str, ...] = words.DEFAULT_NEGATIVE_WORDS,
                 cues: ProfileCues | None = None) -> None:
        self.weights = weights
        self.signals = Signals()
        self.assessment = Assessment(0)
        self.rose_at: float | None = None  # when the score last went up (the event's time)
        self._negative = words.normalized(negative_words)
        self._finals: list[str] = []
        self._questions: deque[list[Any]] = deque(maxlen=QUESTION_MEMORY)  # [key, times, text]
        self.use_profile(cues or ProfileCues())

    def use_profile(self, cues: ProfileCues) -> None:
        self._phrases = cues.emergency_phrases
        self._apology = cues.apology_words()

    @property
    def score(self) -> int:
        return self.assessment.score

    def rising(self, now: float, window_s: float) -> bool:
        return self.rose_at is not None and now - self.rose_at <= window_s

    def observe(self, event: CallEvent) -> bool:
        """Fold one event in; True when the signals (and so maybe the score) changed."""
        handler = _HANDLERS.get(type(event))
        if handler is None or not handler(self, event):
            return False
        before, self.assessment = self.assessment.score, assess(self.signals, self.weights)
        if self.assessment.score > before:
            self.rose_at = event.at
        return True

    # -- the caller's words -----------------------------------------------------------------

    def _final(self, event: CallerTranscribed) -> bool:
        if event.final and event.text:
            self._finals.append(event.text)
        return False

    def _turn(self, event: TurnCompleted) -> bool:
        if event.role != "caller":
            return False
        text, self._finals = event.text or " ".join(self._finals), []
        said = words.words_of(text)
        return any([self._near_miss(said), self._angry(said), self._asked(said, text)])

    def _near_miss(self, said: list[str]) -> bool:
        if self.signals.near_miss is not None or not self._phrases:
            return False
        self.signals.near_miss = words.near_miss(said, self._phrases)
        return self.signals.near_miss is not None

    def _angry(self, said: list[str]) -> bool:
        found = words.found_phrases(said, self._negative)
        for word in found:
            if word not in self.signals.negative:
                self.signals.negative.append(word)
        self.signals.negative_count += len(found)
        return bool(found)

    def _asked(self, said: list[str], text: str) -> bool:
        key = words.question_key(said)
        if not key:
            return False
        asked = next((q for q in self._questions if words.same_question(q[0], key)), None)
        if asked is None:
            self._questions.append([key, 1, text])
            return False
        asked[1] += 1
        if asked[1] < self.signals.repeated:
            return False
        self.signals.repeated, self.signals.repeated_text = asked[1], text
        return True

    # -- the agent, the stack, the line -------------------------------------------------------

    def _spoke(self, event: AgentSpoke) -> bool:
        if not words.apologizes(words.words_of(event.text), self._apology):
            return False
        self.signals.apologies += 1
        return True

    def _emergency(self, event: EmergencyDetected) -> bool:
        if self.signals.emergency:
            return False
        self.signals.emergency, self.signals.emergency_source = event.phrase, event.source
        return True

    def _alert(self, event: AlertRaised) -> bool:
        if event.level != "critical" or self.signals.alert == event.message:
            return False
        self.signals.alert = event.message
        return True

    def _attempted(self, event: TransferAttempted) -> bool:
        return not event.ok and self._transfer_failed(event.detail or "Twilio refused")

    def _finished(self, event: TransferFinished) -> bool:
        return event.outcome in UNANSWERED and self._transfer_failed(event.outcome)

    def _transfer_failed(self, detail: str) -> bool:
        self.signals.transfers_failed += 1
        self.signals.transfer_detail = detail
        return True

    def _degraded(self, event: ProviderDegraded) -> bool:
        if self.signals.degraded.get(event.provider) == event.fallback:
            return False
        self.signals.degraded[event.provider] = event.fallback
        return True

    def _quiet(self, event: CallerWentQuiet) -> bool:
        self.signals.silences += 1
        self.signals.longest_silence_s = max(self.signals.longest_silence_s, event.seconds)
        return True

    def _measured(self, event: TurnMeasured) -> bool:
        v2v = next((event.stages[k] for k in V2V_KEYS if k in event.stages), None)
        if v2v is None or v2v <= self.weights.v2v_budget_ms:
            return False
        self.signals.slow_turns += 1
        self.signals.worst_v2v_ms = max(self.signals.worst_v2v_ms, float(v2v))
        return True


_HANDLERS: dict[type[CallEvent], Callable[[RiskTracker, Any], bool]] = {
    CallerTranscribed: RiskTracker._final,
    TurnCompleted: RiskTracker._turn,
    AgentSpoke: RiskTracker._spoke,
    EmergencyDetected: RiskTracker._emergency,
    AlertRaised: RiskTracker._alert,
    TransferAttempted: RiskTracker._attempted,
    TransferFinished: RiskTracker._finished,
    ProviderDegraded: RiskTracker._degraded,
    CallerWentQuiet: RiskTracker._quiet,
    TurnMeasured: RiskTracker._measured,
}
