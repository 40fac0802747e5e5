"""A drill of the four built-in scenarios with an operator's acts at known times (one of them
too late: a miss), scored by the real scoring (console/drill/scoring.py): the printed report's
snapshot test renders it."""

from __future__ import annotations

from typing import Any

from console.drill.scenarios import load_scenarios
from console.drill.scoring import DrillReport, score_call

STARTED = 1_796_465_520.0  # 2026-12-05 10:12 UTC
DRILL_ID = "drill-20261205T101200-3f"
# scenario -> (seconds from the drill's start to its cue, [(seconds after the cue, action)])
ACTS: dict[str, tuple[float, list[tuple[float, str]]]] = {
    "chest-pain": (14.0, [(3.2, "acknowledge"), (6.8, "take-over"), (21.5, "transfer")]),
    "angry-billing": (95.0, [(5.1, "acknowledge"), (52.0, "take-over")]),
    "silent": (170.0, [(9.6, "acknowledge"), (16.0, "take-over")]),
    "wants-human": (230.0, [(2.4, "acknowledge"), (12.7, "transfer")]),
}


def _events(cue_at: float, acts: list[tuple[float, str]]) -> list[dict[str, Any]]:
    return [{"kind": "OperatorActed", "action": action, "actor": "alice", "at": cue_at + after}
            for after, action in acts]


def sample_report() -> dict[str, Any]:
    results = []
    for index, scenario in enumerate(load_scenarios()):
        cue_after, acts = ACTS[scenario.name]
        cue_at = STARTED + cue_after
        sid = f"CA{index:032x}"
        results.append(score_call(scenario, sid, cue_at, _events(cue_at, acts)))
    return DrillReport(DRILL_ID, STARTED, STARTED + 290.0, tuple(results)).to_dict()
