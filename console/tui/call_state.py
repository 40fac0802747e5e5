"""One call as the console pictures it: plain dataclasses (the call, its transcript lines, its
alert, its timeline, the gated reply waiting), with no rules about events.

The folds that fill them (board.py for the call's events, gated.py for the gate's, ranking.py
for the board's order) import this module; it imports none of them, so they form no cycle.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from console.risk import RiskTracker, RiskWeights

# TurnMeasured.stages key for speech end -> first frame sent (DESIGN.md latency vocabulary); the
# aliases tolerate the pipeline's spelling until it settles.
V2V_KEYS = ("voice_to_voice", "voice-to-voice", "v2v")
TIMELINE_LIMIT = 200  # the timeline is a glance, not the audit log (storage keeps everything)
TRANSCRIPT_LIMIT = 500  # ~an hour of conversation; older lines live in the database


@dataclass
class TranscriptLine:
    role: str  # caller | agent | operator
    text: str
    heard: str | None = None  # set when the agent was cut off: what the caller actually heard
    cause: str = ""
    paused: bool = False  # the caller spoke over it: held, to resume or to be cut
    resumes: int = 0  # times it went on after the caller's cough or "mhm"

    @property
    def interrupted(self) -> bool:
        return self.heard is not None


@dataclass
class Alert:
    """What the alert screen shows for a call: an emergency phrase (`phrase` from `source`, in
    `text`), or, with an empty phrase, a critical alert whose words are `text` (a deaf call, a
    session that could not start, every transfer failing)."""

    phrase: str
    source: str
    text: str
    at: float
    progress: list[str] = field(default_factory=list)
    acknowledged: bool = False

    @property
    def headline(self) -> str:
        """A few words for a row or a banner."""
        return f"EMERGENCY “{self.phrase}”" if self.phrase else self.text


@dataclass
class TimelineEntry:
    at: float
    kind: str
    summary: str


@dataclass
class PendingReply:
    """The reply waiting for the operator: what it says so far, what of it is approved, and why
    it waits."""

    text: str
    reason: str
    shown_at: float  # wall clock: its first words reached the console
    ready_at: float | None = None  # wall clock: complete, so all of it can be approved
    approved: str = ""  # the start of `text` already approved: the caller hears it
    pieces_wait: bool = False  # complete pieces wait for approval while the rest is written

    @property
    def complete(self) -> bool:
        return self.ready_at is not None

    @property
    def approvable(self) -> bool:
        """Enter approves something now: the whole rest, or the complete pieces shown so far."""
        return self.complete or self.pieces_wait

    @property
    def rest(self) -> str:
        """What is not approved yet: what the operator may still edit."""
        if self.approved and self.text.startswith(self.approved):
            return self.text[len(self.approved):].strip()
        return self.text

    def waiting_s(self, now: float) -> float:
        """How long the caller has been held for a decision (0 while it is being written)."""
        return 0.0 if self.ready_at is None else max(0.0, now - self.ready_at)


@dataclass
class CallState:
    call_sid: str
    started_at: float
    caller: str = "unknown"
    callee: str = ""
    profile: str = ""
    state: str = "greeting"
    talking: str = ""  # caller | agent | operator | ""
    ended_at: float | None = None
    end_reason: str = ""
    lines: list[TranscriptLine] = field(default_factory=list)
    caller_finals: list[str] = field(default_factory=list)
    interim: str = ""
    agent_live: TranscriptLine | None = None
    turn: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    v2v: list[float] = field(default_factory=list)
    timeline: deque[TimelineEntry] = field(default_factory=lambda: deque(maxlen=TIMELINE_LIMIT))
    alert: Alert | None = None
    transfer: str = ""  # the latest transfer progress, for headers
    taken_over: bool = False
    agent_muted: bool = False
    # Approve-before-speak (issue 15, console/tui/gated.py): the call's gate, the reply waiting.
    gated: bool = False
    proposal: PendingReply | None = None
    caller_muted: bool = False  # issue 15 "mute caller": the agent is not listening to them
    drill: str = ""  # issue 15: the drill scenario when this call is practice, not a caller
    # A fleet (issue 17): the media worker the call runs on, and the operator holding it.
    worker: str = ""
    holder: str = ""
    risk: RiskTracker = field(default_factory=lambda: RiskTracker(RiskWeights()))

    @property
    def live(self) -> bool:
        return self.ended_at is None

    def duration(self, now: float) -> float:
        return max(0.0, (self.ended_at or now) - self.started_at)

    @property
    def last_v2v(self) -> float | None:
        return self.v2v[-1] if self.v2v else None

    def v2v_percentile(self, percent: float) -> float | None:
        return percentile(self.v2v, percent)

    def commit(self, line: TranscriptLine) -> None:
        self.lines.append(line)
        del self.lines[:-TRANSCRIPT_LIMIT]


def percentile(values: list[float], percent: float) -> float | None:
    """Nearest-rank percentile: always one of the measured values, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
