"""The board's order and the line's health: which call needs a person first, and how the whole
line is doing (calls now, voice-to-voice p95 over 5 minutes, open alerts, degraded providers).

Pure data, no Textual: the board folds events in, the dashboard renders what this computes.

The order the operator reads is calm on purpose (`settle`, `BoardOrder`): a row moves up past
another only when it clearly outranks it (a risk band higher, or a margin of points more), and
the board re-sorts when asked (once a second), at once only for a call turning critical. Every
move repaints the lines between a row's old and new place, and at 50 calls scores change
several times a second: similar scores changing places on every change was most of what the
ranking cost the console's loop (bench/risk_cost.py).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from console.config import Settings
from console.events import CallEvent, ProviderDegraded, TurnMeasured
from console.profiles import Profile
from console.risk import ProfileCues, RiskTracker, RiskWeights
from console.risk.tracker import RISING_S, V2V_KEYS
from console.risk.words import DEFAULT_NEGATIVE_WORDS

if TYPE_CHECKING:
    from console.tui.call_state import CallState

HEALTH_WINDOW_S = 300.0  # "over the last 5 minutes"
# Score bands (the board's colours too): from an emergency's weight red, from about two worries
# (35) yellow, any worry at all above the calm calls. A critical call (an emergency, a critical
# alert) is a band of its own, above them all.
HIGH_RISK, SOME_RISK = 100, 35
CRITICAL = 4  # the band of a call with an alert on it (bands below: 0 calm, 1, 2 yellow, 3 red)
# Within a band, a call passes another only with this many points more: one angry word (10) or a
# silence (20) does, a slow turn (6) or a degraded provider (8) alone does not.
RERANK_MARGIN = 10


@dataclass(frozen=True)
class RiskSetup:
    """What every call's risk tracker is built with: settings' weights and angry words, and the
    profile's phrases, looked up by name (without profiles: no near misses)."""

    weights: RiskWeights = field(default_factory=RiskWeights)
    negative_words: tuple[str, ...] = DEFAULT_NEGATIVE_WORDS
    rising_s: float = RISING_S
    profile_cues: Callable[[str], ProfileCues] = lambda name: ProfileCues()

    def tracker(self) -> RiskTracker:
        return RiskTracker(self.weights, self.negative_words)


class _ProfileBook(Protocol):
    def last_good(self, name: str) -> Profile | None: ...


@runtime_checkable
class _Configured(Protocol):
    """A backend with settings and profiles (the runtime: `profiles` is a ProfileBook, whose
    `last_good` reads no file)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def profiles(self) -> _ProfileBook: ...


def risk_setup(backend: object) -> RiskSetup:
    """From the console's backend: the runtime has `settings` and `profiles`; a test backend
    may have neither, and gets the defaults."""
    if not isinstance(backend, _Configured):
        return RiskSetup()
    settings, book = backend.settings, backend.profiles
    names = [f.name for f in dataclasses.fields(RiskWeights)]
    weights = RiskWeights(**{name: getattr(settings.risk, _setting(name)) for name in names})
    return RiskSetup(weights, tuple(settings.risk.negative_words), settings.risk.rising_s,
                     _cues_from(book))


def _setting(weight: str) -> str:
    return weight if weight == "v2v_budget_ms" else f"weight_{weight}"


def _cues_from(book: _ProfileBook) -> Callable[[str], ProfileCues]:
    def cues(name: str) -> ProfileCues:
        profile = book.last_good(name) if name else None
        if profile is None:
            return ProfileCues()
        return ProfileCues(tuple(profile.caller_emergency_phrases), profile.apology)

    return cues


def ranked(calls: Iterable[CallState]) -> list[CallState]:
    """The strict ranking: live calls first, critical ones on top, then the riskiest; equal
    scores keep arrival order (oldest first). The board shows it calmed (`BoardOrder`)."""
    return sorted(calls, key=lambda call: _strict(standing(call)))


@dataclass(frozen=True, slots=True)
class Standing:
    """What the board's order reads of one call."""

    live: bool
    score: int
    band: int  # 0 calm, 1 some worry, 2 yellow, 3 red, CRITICAL
    started_at: float

    def clearly_above(self, other: Standing, margin: int = RERANK_MARGIN) -> bool:
        """This call belongs above `other` beyond doubt: live over ended, a higher band, or
        `margin` points more in the same band. (A strict partial order: `settle` relies on it
        being transitive.)"""
        if self.live != other.live:
            return self.live
        if self.band != other.band:
            return self.band > other.band
        return self.score - other.score >= margin


def standing(call: CallState) -> Standing:
    score = call.risk.score
    return Standing(call.live, score, band(score, critical=call.alert is not None),
                    call.started_at)


def band(score: int, critical: bool = False) -> int:
    if critical:
        return CRITICAL
    return 3 if score >= HIGH_RISK else 2 if score >= SOME_RISK else 1 if score > 0 else 0


def settle(order: Sequence[str], standings: Mapping[str, Standing],
           margin: int = RERANK_MARGIN) -> list[str]:
    """The board's next order, from its current one: calls no longer in `standings` leave, new
    ones come in at their place, and each call rises to just above the highest call it is
    clearly above. Similar scores keep their lines (no wobble), ties keep their order, and a
    call that turns clearly risky jumps at once. Taken top to bottom, no call placed so far is
    clearly above a call over it, so a call rising passes only calls ranked below it (ended,
    a lower band, or fewer points), and none is left under a call it is clearly above."""
    placed: list[str] = []
    for sid in [*(sid for sid in order if sid in standings), *_newcomers(order, standings)]:
        _place(placed, sid, standings, margin)
    return placed


def admit(order: Sequence[str], standings: Mapping[str, Standing],
          margin: int = RERANK_MARGIN) -> list[str]:
    """Between re-sorts: calls gone leave and new calls come in at their place; every other call
    keeps its line, whatever its score did meanwhile."""
    kept = [sid for sid in order if sid in standings]
    for sid in _newcomers(order, standings):
        _place(kept, sid, standings, margin)
    return kept


def _newcomers(order: Sequence[str], standings: Mapping[str, Standing]) -> list[str]:
    """Calls not on the board yet, in strict rank (riskiest, then oldest, first): placed one
    after another, none then passes another newcomer, so a board that starts full reads as a
    strict ranking."""
    known = set(order)
    new = [sid for sid in standings if sid not in known]
    return sorted(new, key=lambda sid: _strict(standings[sid]))


def _strict(each: Standing) -> tuple[bool, int, int, float]:
    return (not each.live, -each.band, -each.score, each.started_at)


def _place(placed: list[str], sid: str, standings: Mapping[str, Standing], margin: int) -> None:
    me = standings[sid]
    above = next((index for index, other in enumerate(placed)
                  if me.clearly_above(standings[other], margin)), len(placed))
    placed.insert(above, sid)


class BoardOrder:
    """The board's order over time: settled when the caller asks (the dashboard asks on the
    clock's tick) or at once when a call turns critical; in between, calls come and go and the
    others keep their lines."""

    def __init__(self, margin: int = RERANK_MARGIN) -> None:
        self.margin = margin
        self._order: list[str] = []
        self._critical: frozenset[str] = frozenset()  # the critical calls at the last settle

    def order(self, calls: Iterable[CallState], resort: bool) -> list[CallState]:
        """Asked on every board change (10 a second at 50 calls): most of them change no line,
        so the standings are read only when the order may change."""
        by_sid = {call.call_sid: call for call in calls}
        critical = frozenset(sid for sid, call in by_sid.items() if call.alert is not None)
        if resort or not critical <= self._critical:
            self._order = settle(self._order, _standings(by_sid), self.margin)
            self._critical = critical
        elif by_sid.keys() != set(self._order):  # calls came or went
            self._order = admit(self._order, _standings(by_sid), self.margin)
        return [by_sid[sid] for sid in self._order]


def _standings(calls: Mapping[str, CallState]) -> dict[str, Standing]:
    return {sid: standing(call) for sid, call in calls.items()}


@dataclass(frozen=True)
class Health:
    calls_now: int
    v2v_p95_ms: float | None
    v2v_turns: int
    open_alerts: int
    degraded: tuple[str, ...]


class LineWatch:
    """Voice-to-voice samples and degraded providers of the last 5 minutes, across calls."""

    def __init__(self, window_s: float = HEALTH_WINDOW_S) -> None:
        self.window_s = window_s
        self._v2v: deque[tuple[float, float]] = deque()
        self._degraded: dict[str, float] = {}  # provider -> when it last degraded

    def observe(self, event: CallEvent) -> None:
        if isinstance(event, TurnMeasured):
            v2v = next((event.stages[k] for k in V2V_KEYS if k in event.stages), None)
            if v2v is not None:
                self._v2v.append((event.at, float(v2v)))
        elif isinstance(event, ProviderDegraded):
            self._degraded[event.provider] = event.at

    def health(self, now: float, calls_now: int, open_alerts: int) -> Health:
        since = now - self.window_s
        while self._v2v and self._v2v[0][0] < since:
            self._v2v.popleft()
        samples = sorted(ms for _, ms in self._v2v)
        p95 = samples[max(0, -(-95 * len(samples) // 100) - 1)] if samples else None
        degraded = tuple(sorted(p for p, at in self._degraded.items() if at >= since))
        return Health(calls_now, p95, len(samples), open_alerts, degraded)
