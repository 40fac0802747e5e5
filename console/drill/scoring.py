"""How a drill is scored: pure functions of one call's events (the admin feed's JSON lines).

The clock of each scenario starts at its cue (scenarios.py). A reaction is the operator's first
act of that kind on the call, from its `OperatorActed` event: "take-over" and "transfer" by name,
"acknowledge" by any act at all (`a` on the alert, opening the call, or acting on it). An act
before the cue counts as 0 s: the operator was on it already. A reaction later than its limit, or
none (the call ended, or the drill moved on), is a miss.

Points per reaction: 100 within a quarter of its limit, then down in a straight line to 0 at the
limit; a miss is 0 and counts against. The drill's score is the mean over every reaction scored.
A scenario whose cue never came (the console raised no emergency alert) is not scored: that is
the console's failure, not the operator's, and the report says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from console.drill.scenarios import Scenario

FULL_MARKS_SHARE = 0.25  # reacting within this share of the limit earns every point
ANY_ACT = "acknowledge"  # the reaction any operator act satisfies


@dataclass(frozen=True)
class Reaction:
    name: str  # acknowledge | take-over | transfer
    limit_s: float
    seconds: float | None  # after the cue; None: no such act at all
    missed: bool
    why: str = ""  # for a miss, in words

    @property
    def points(self) -> int:
        return 0 if self.missed or self.seconds is None else reaction_points(self.seconds,
                                                                            self.limit_s)


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    title: str
    call_sid: str
    cue: str  # the clock's start, in words
    cue_at: float | None  # epoch seconds; None: it never came
    reactions: tuple[Reaction, ...] = ()
    note: str = ""
    actors: tuple[str, ...] = ()

    @property
    def scored(self) -> bool:
        return self.cue_at is not None


@dataclass(frozen=True)
class DrillReport:
    drill_id: str
    started: float
    ended: float
    results: tuple[ScenarioResult, ...] = field(default_factory=tuple)

    @property
    def reactions(self) -> list[Reaction]:
        return [r for result in self.results if result.scored for r in result.reactions]

    @property
    def score(self) -> int | None:
        scored = self.reactions
        return round(sum(r.points for r in scored) / len(scored)) if scored else None

    @property
    def misses(self) -> int:
        return sum(r.missed for r in self.reactions)

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(sorted({a for result in self.results for a in result.actors}))

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body.update(score=self.score, misses=self.misses, operators=list(self.operators))
        for result, raw in zip(self.results, body["results"], strict=True):
            for reaction, raw_reaction in zip(result.reactions, raw["reactions"], strict=True):
                raw_reaction["points"] = reaction.points
        return body


def reaction_points(seconds: float, limit_s: float) -> int:
    """100 within a quarter of the limit, 0 at it, a straight line between."""
    full = limit_s * FULL_MARKS_SHARE
    if seconds <= full:
        return 100
    if seconds >= limit_s:
        return 0
    return round(100 * (limit_s - seconds) / (limit_s - full))


def score_call(scenario: Scenario, call_sid: str, cue_at: float | None,
               events: list[dict[str, Any]], *, note: str = "") -> ScenarioResult:
    """Score one drill call from its events (dicts with kind, at, and the event's fields)."""
    acts = sorted((e for e in events if e.get("kind") == "OperatorActed"), key=lambda e: e["at"])
    actors = tuple(sorted({str(e.get("actor", "")) for e in acts} - {""}))
    base = ScenarioResult(scenario.name, scenario.title, call_sid, scenario.describe_cue(),
                          cue_at, note=note, actors=actors)
    if cue_at is None:
        return base
    ended = _ended_at(events)
    reactions = tuple(_reaction(name, limit, acts, cue_at, ended) for name, limit in
                      scenario.expect)
    return replace(base, reactions=reactions)


def _reaction(name: str, limit_s: float, acts: list[dict[str, Any]], cue_at: float,
              ended_at: float | None) -> Reaction:
    first = next((a for a in acts if name == ANY_ACT or a.get("action") == name), None)
    if first is None:
        return Reaction(name, limit_s, None, True, _why_none(limit_s, cue_at, ended_at))
    seconds = max(0.0, first["at"] - cue_at)
    if seconds > limit_s:
        why = f"after {seconds:.1f} s (limit {limit_s:g} s)"
        return Reaction(name, limit_s, seconds, True, why)
    return Reaction(name, limit_s, seconds, False)


def _why_none(limit_s: float, cue_at: float, ended_at: float | None) -> str:
    if ended_at is not None and ended_at < cue_at + limit_s:
        return f"the call ended {max(0.0, ended_at - cue_at):.0f} s after the cue, first"
    return f"none within {limit_s:g} s"


def _ended_at(events: list[dict[str, Any]]) -> float | None:
    return next((e["at"] for e in events if e.get("kind") == "CallEnded"), None)


def emergency_cue(events: list[dict[str, Any]]) -> float | None:
    """The cue "emergency": when the console first raised the emergency alert on the call."""
    return next((e["at"] for e in events if e.get("kind") == "EmergencyDetected"), None)
