"""The board's order and the line's health: which call needs a person first, and how the whole
line is doing (calls now, voice-to-voice p95 over 5 minutes, open alerts, degraded providers).

Pure data, no Textual: the board folds events in, the dashboard renders what this computes.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
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
    """Live calls first, the riskiest on top; equal scores keep arrival order (oldest first), so
    rows only move when a score changes."""
    return sorted(calls, key=lambda c: (not c.live, -c.risk.score, c.started_at))


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
