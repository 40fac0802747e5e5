"""What a finished call was, gathered from its events, and what it came to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from console import events as ev

MAX_SENTENCES = 3
# A sentence ends at . ! or ? followed by a space or the end ("3.5" and "a.m." inside a word stay).
_SENTENCE_END = re.compile(r"[.!?]+(?=\s+[A-Z\u201c\"]|\s*$)")


@dataclass
class CallFacts:
    """One call as the summarizer sees it: its turns in order and the moments that matter."""

    call_sid: str
    profile: str = ""
    started: float = 0.0
    ended: float = 0.0
    end_reason: str = ""
    turns: list[tuple[str, str]] = field(default_factory=list)  # (role, text)
    emergencies: list[str] = field(default_factory=list)  # phrases heard

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended - self.started)

    def caller_turns(self) -> list[str]:
        return [text for role, text in self.turns if role == "caller" and text.strip()]

    def note(self, event: ev.CallEvent) -> None:
        """Fold one event of this call in."""
        if isinstance(event, ev.CallStarted):
            self.profile, self.started = event.profile, event.at
        elif isinstance(event, ev.TurnCompleted) and event.text.strip():
            self.turns.append((event.role, event.text.strip()))
        elif isinstance(event, ev.EmergencyDetected):
            self.emergencies.append(event.phrase)
        elif isinstance(event, ev.CallEnded):
            self.ended, self.end_reason = event.at, event.reason


@dataclass(frozen=True)
class CallOutcome:
    """What the call came to; becomes one CallSummarized."""

    summary: str
    disposition: str
    action_items: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    source: str = "rules"

    def event(self, call_sid: str) -> ev.CallSummarized:
        return ev.CallSummarized(call_sid, summary=self.summary, disposition=self.disposition,
                                 action_items=self.action_items, fields=self.fields,
                                 source=self.source)


def sentence_count(text: str) -> int:
    """Sentences in `text`; text with no closing stop counts as one."""
    pieces = [piece for piece in _SENTENCE_END.split(text) if piece.strip()]
    return len(pieces)
