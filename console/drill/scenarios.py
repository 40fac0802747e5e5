"""Drill scenarios are data: a TOML table (scenarios.toml beside this file, or the operator's
own), read and checked here into frozen dataclasses. A bad file is refused whole, naming the
scenario and the field, before any call is placed."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUILT_IN = Path(__file__).with_name("scenarios.toml")
CUES = ("emergency", "line", "silence")
REACTIONS = ("acknowledge", "take-over", "transfer")  # the order the report shows them in
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class ScenarioError(ValueError):
    """The scenarios file is unusable; the message names the scenario and the field."""


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    profile: str
    lines: tuple[str, ...]
    cue: str
    expect: tuple[tuple[str, float], ...]  # (reaction, seconds allowed), in REACTIONS order
    cue_line: int = 0  # cue "line": 1-based
    silence_s: float = 0.0  # cue "silence"

    @property
    def longest_limit_s(self) -> float:
        return max(limit for _, limit in self.expect)

    def describe_cue(self) -> str:
        """The clock's start, in words, for the report."""
        if self.cue == "emergency":
            return "the emergency alert"
        if self.cue == "line":
            return f"line {self.cue_line} said"
        return f"{self.silence_s:g} s of silence"


def load_scenarios(path: Path | None = None, only: list[str] | None = None) -> list[Scenario]:
    """Every scenario of the file (default: the built-in four), or those named in `only`.
    Blocking (reads a file). Raises ScenarioError."""
    path = path or BUILT_IN
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{path}: {error}") from None
    scenarios = [_scenario(raw, i) for i, raw in enumerate(_table(data, path))]
    _check_unique(scenarios, path)
    return _pick(scenarios, only, path)


def _table(data: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    table = data.get("scenario")
    if not isinstance(table, list) or not table:
        raise ScenarioError(f"{path}: no [[scenario]] tables")
    return table


def _scenario(raw: Any, index: int) -> Scenario:
    where = f"scenario {index + 1}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: not a table")
    name = _text(raw, "name", where)
    where = f"scenario {name!r}"
    if not _NAME.match(name):
        raise ScenarioError(f"{where}: name: lower-case letters, digits and '-', at most 32")
    scenario = Scenario(
        name=name, title=_text(raw, "title", where, default=name),
        profile=_text(raw, "profile", where), lines=_lines(raw, where),
        cue=_cue(raw, where), expect=_expect(raw, where),
        cue_line=_number(raw, "cue_line", where, int), silence_s=_number(raw, "silence_s", where),
    )
    _check_cue(scenario, where)
    return scenario


def _text(raw: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: {key}: give some text")
    return value.strip()


def _lines(raw: dict[str, Any], where: str) -> tuple[str, ...]:
    lines = raw.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ScenarioError(f"{where}: lines: a list of what the caller says")
    if not all(isinstance(line, str) and line.strip() for line in lines):
        raise ScenarioError(f"{where}: lines: every line needs some text")
    return tuple(line.strip() for line in lines)


def _cue(raw: dict[str, Any], where: str) -> str:
    cue = raw.get("cue")
    if not isinstance(cue, str) or cue not in CUES:
        raise ScenarioError(f"{where}: cue: one of {', '.join(CUES)} (got {cue!r})")
    return cue


def _expect(raw: dict[str, Any], where: str) -> tuple[tuple[str, float], ...]:
    expect = raw.get("expect")
    if not isinstance(expect, dict) or not expect:
        raise ScenarioError(f"{where}: expect: e.g. {{ acknowledge = 15, take-over = 30 }}")
    unknown = sorted(set(expect) - set(REACTIONS))
    if unknown:
        raise ScenarioError(f"{where}: expect: unknown {', '.join(unknown)} "
                            f"(reactions: {', '.join(REACTIONS)})")
    for reaction, limit in expect.items():
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
            raise ScenarioError(f"{where}: expect.{reaction}: seconds, more than 0")
    return tuple((r, float(expect[r])) for r in REACTIONS if r in expect)


def _number(raw: dict[str, Any], key: str, where: str, kind: type = float) -> Any:
    value = raw.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ScenarioError(f"{where}: {key}: a number, 0 or more")
    return kind(value)


def _check_cue(scenario: Scenario, where: str) -> None:
    if scenario.cue == "line" and not 1 <= scenario.cue_line <= len(scenario.lines):
        raise ScenarioError(f"{where}: cue_line: 1 to {len(scenario.lines)} (one of its lines)")
    if scenario.cue == "silence" and scenario.silence_s <= 0:
        raise ScenarioError(f"{where}: silence_s: seconds of silence, more than 0")


def _check_unique(scenarios: list[Scenario], path: Path) -> None:
    names = [s.name for s in scenarios]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ScenarioError(f"{path}: scenario names used twice: {', '.join(twice)}")


def _pick(scenarios: list[Scenario], only: list[str] | None, path: Path) -> list[Scenario]:
    if not only:
        return scenarios
    known = {s.name: s for s in scenarios}
    missing = [name for name in only if name not in known]
    if missing:
        raise ScenarioError(f"no scenario {', '.join(missing)} in {path} "
                            f"(there are: {', '.join(known)})")
    return [known[name] for name in only]
