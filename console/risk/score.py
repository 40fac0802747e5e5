"""A call's risk: its signals in, a score and the reasons for it out (a pure, table-tested rule).

Each signal adds its weight (from settings: RISK_WEIGHT_*) once per occurrence, up to a cap, so
one noisy signal (ten angry words, a slow stack on every turn) cannot outrank an emergency on its
own. The reasons are sorted by what they added: the first is what the board shows on the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Occurrences counted per signal, at most. An emergency, a critical alert and a near miss count
# once; a caller who asks the same thing a fourth time is no riskier than at the third.
CAPS = {"transfer_failed": 2, "repeated": 3, "negative": 4, "silence": 2, "apology": 3,
        "degraded": 3, "slow": 5}
QUOTE_CHARS = 40  # a quoted question or phrase in a reason is cut to this many characters


@dataclass(frozen=True)
class RiskWeights:
    """Points per occurrence of each signal (see console/config.py, RISK_WEIGHT_*), and the
    voice-to-voice budget above which a turn counts as slow."""

    emergency: float = 100.0
    alert: float = 80.0
    transfer_failed: float = 40.0
    near_miss: float = 50.0  # half an emergency: a misheard one may be one
    repeated: float = 15.0
    negative: float = 10.0
    silence: float = 20.0
    apology: float = 12.0
    degraded: float = 8.0
    slow: float = 6.0
    v2v_budget_ms: float = 1200.0


@dataclass
class Signals:
    """What one live call has shown so far, as counts and the words that showed it."""

    emergency: str = ""  # the phrase triage matched
    emergency_source: str = ""  # "caller" | "agent"
    alert: str = ""  # a critical alert's words (a deaf call, every transfer failing)
    transfers_failed: int = 0
    transfer_detail: str = ""  # the last failure: "no-answer", "503 from Twilio"...
    near_miss: tuple[str, str] | None = None  # (the profile's phrase, the words heard)
    repeated: int = 0  # times the most repeated question was asked
    repeated_text: str = ""
    negative: list[str] = field(default_factory=list)  # angry words heard, each once, in order
    negative_count: int = 0  # every time one was said
    silences: int = 0  # times the caller went quiet long enough to be reprompted
    longest_silence_s: float = 0.0
    apologies: int = 0  # agent lines that apologized or fell back
    degraded: dict[str, str] = field(default_factory=dict)  # provider -> what took over
    slow_turns: int = 0  # replies over the voice-to-voice budget
    worst_v2v_ms: float = 0.0


@dataclass(frozen=True)
class Reason:
    signal: str
    points: float
    words: str


@dataclass(frozen=True)
class Assessment:
    score: int
    reasons: tuple[Reason, ...] = ()

    @property
    def top(self) -> str:
        return self.reasons[0].words if self.reasons else ""


def assess(signals: Signals, weights: RiskWeights) -> Assessment:
    """The score (the sum of every reason's points, rounded) and its reasons, biggest first."""
    found = [reason for rule in _RULES if (reason := rule(signals, weights)) is not None]
    found.sort(key=lambda reason: -reason.points)  # stable: ties keep the rules' order
    return Assessment(round(sum(reason.points for reason in found)), tuple(found))


def _counted(signal: str, times: int, weight: float, words: str) -> Reason | None:
    if times <= 0 or weight <= 0:
        return None
    return Reason(signal, weight * min(times, CAPS.get(signal, 1)), words)


def quote(text: str) -> str:
    text = " ".join(text.split())
    cut = text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"
    return f"“{cut}”"


def _emergency(s: Signals, w: RiskWeights) -> Reason | None:
    who = f" ({s.emergency_source})" if s.emergency_source else ""
    return _counted("emergency", bool(s.emergency), w.emergency,
                    f"emergency {quote(s.emergency)}{who}")


def _alert(s: Signals, w: RiskWeights) -> Reason | None:
    return _counted("alert", bool(s.alert), w.alert, f"alert: {s.alert}")


def _transfer(s: Signals, w: RiskWeights) -> Reason | None:
    times = f" ×{s.transfers_failed}" if s.transfers_failed > 1 else ""
    detail = f" ({s.transfer_detail})" if s.transfer_detail else ""
    return _counted("transfer_failed", s.transfers_failed, w.transfer_failed,
                    f"transfer failed{times}{detail}")


def _near_miss(s: Signals, w: RiskWeights) -> Reason | None:
    if s.near_miss is None:
        return None
    phrase, heard = s.near_miss
    return _counted("near_miss", 1, w.near_miss, f"sounds like {quote(phrase)} ({quote(heard)})")


def _repeated(s: Signals, w: RiskWeights) -> Reason | None:
    return _counted("repeated", s.repeated - 1, w.repeated,
                    f"asked {s.repeated}×: {quote(s.repeated_text)}")


def _negative(s: Signals, w: RiskWeights) -> Reason | None:
    said = ", ".join(quote(word) for word in s.negative[-3:])
    return _counted("negative", s.negative_count, w.negative, f"angry words: {said}")


def _silence(s: Signals, w: RiskWeights) -> Reason | None:
    times = f" ({s.silences}×)" if s.silences > 1 else ""
    return _counted("silence", s.silences, w.silence,
                    f"caller silent {s.longest_silence_s:.0f} s{times}")


def _apology(s: Signals, w: RiskWeights) -> Reason | None:
    times = f" {s.apologies}×" if s.apologies > 1 else ""
    return _counted("apology", s.apologies, w.apology, f"agent apologized{times}")


def _degraded(s: Signals, w: RiskWeights) -> Reason | None:
    return _counted("degraded", len(s.degraded), w.degraded, f"degraded: {', '.join(s.degraded)}")


def _slow(s: Signals, w: RiskWeights) -> Reason | None:
    return _counted("slow", s.slow_turns, w.slow,
                    f"slow replies: {s.slow_turns} over {w.v2v_budget_ms:,.0f} ms "
                    f"(worst {s.worst_v2v_ms:,.0f} ms)")


_RULES = (_emergency, _alert, _transfer, _near_miss, _repeated, _negative, _silence, _apology,
          _degraded, _slow)
