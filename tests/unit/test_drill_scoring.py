"""Drill scoring (console/drill/scoring.py) and scenarios (scenarios.py): pure, table-tested."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import events as ev
from console.drill.scenarios import BUILT_IN, ScenarioError, load_scenarios
from console.drill.scoring import DrillReport, reaction_points, score_call
from console.storage.db import open_db, write_event
from console.storage.outbox import TABLE as OUTBOX
from console.storage.outbox import enqueue

CUE = 1_000.0


@pytest.fixture(scope="module")
def chest_pain():
    [scenario] = load_scenarios(BUILT_IN, ["chest-pain"])
    return scenario  # acknowledge 15 s, take-over 30 s, transfer 60 s


def acted(action: str, after_s: float, actor: str = "alice") -> dict:
    return {"kind": "OperatorActed", "action": action, "actor": actor, "at": CUE + after_s}


@pytest.mark.parametrize(("seconds", "limit", "points"), [
    (0.0, 20, 100), (5.0, 20, 100),  # within a quarter of the limit: every point
    (12.5, 20, 50), (19.9, 20, 1), (20.0, 20, 0), (45.0, 20, 0),
])
def test_points_are_full_within_a_quarter_of_the_limit_then_fall_to_zero_at_it(
        seconds, limit, points):
    assert reaction_points(seconds, limit) == points


def test_each_reaction_is_timed_from_the_cue_to_the_first_act_of_its_kind(chest_pain):
    events = [acted("say", 2.0), acted("take-over", 4.0), acted("transfer", 9.0),
              acted("take-over", 20.0)]
    result = score_call(chest_pain, "CA1", CUE, events)
    timed = [(r.name, r.seconds, r.missed) for r in result.reactions]
    # any act acknowledges (here the `say` at 2 s); the second take-over does not count
    assert timed == [("acknowledge", 2.0, False), ("take-over", 4.0, False),
                     ("transfer", 9.0, False)]
    assert result.actors == ("alice",)


def test_no_act_within_the_limit_is_a_miss_worth_nothing_that_lowers_the_drill_score(chest_pain):
    result = score_call(chest_pain, "CA1", CUE, [acted("acknowledge", 1.0),
                                                  acted("take-over", 31.0)])
    ack, take_over, transfer = result.reactions
    assert (ack.missed, ack.points) == (False, 100)
    assert (take_over.missed, take_over.points) == (True, 0)
    assert take_over.why == "after 31.0 s (limit 30 s)"
    assert (transfer.missed, transfer.seconds, transfer.why) == (True, None, "none within 60 s")
    report = DrillReport("drill-x", CUE, CUE + 90, (result,))
    assert (report.score, report.misses) == (33, 2)


def test_an_act_before_the_cue_counts_as_at_once(chest_pain):
    result = score_call(chest_pain, "CA1", CUE, [acted("take-over", -3.0)])
    assert [r.seconds for r in result.reactions[:2]] == [0.0, 0.0]


def test_a_call_that_ended_before_the_operator_acted_says_so(chest_pain):
    ended = {"kind": "CallEnded", "reason": "caller-hung-up", "at": CUE + 12.0}
    [ack, *_] = score_call(chest_pain, "CA1", CUE, [ended]).reactions
    assert ack.missed and ack.why == "the call ended 12 s after the cue, first"


def test_a_scenario_whose_cue_never_came_is_listed_but_not_scored(chest_pain):
    missed_cue = score_call(chest_pain, "CA1", None, [], note="no emergency alert")
    scored = score_call(chest_pain, "CA2", CUE, [acted("take-over", 1.0)])
    report = DrillReport("drill-x", CUE, CUE + 90, (missed_cue, scored))
    assert not missed_cue.scored and missed_cue.reactions == ()
    assert report.misses == 1 and report.score == 67  # 100, 100 and a missed transfer


def test_the_built_in_scenarios_are_the_four_the_issue_names():
    scenarios = {s.name: s for s in load_scenarios()}
    assert list(scenarios) == ["chest-pain", "angry-billing", "silent", "wants-human"]
    assert scenarios["chest-pain"].cue == "emergency"
    assert [r for r, _ in scenarios["wants-human"].expect] == ["acknowledge", "transfer"]
    assert scenarios["angry-billing"].cue_line == 2  # the second time they ask


@pytest.mark.parametrize(("toml", "problem"), [
    ('[[scenario]]\nname = "x"\nprofile = "p"\nlines = ["hi"]\ncue = "soon"\n'
     'expect = { acknowledge = 5 }', "scenario 'x': cue: one of emergency, line, silence"),
    ('[[scenario]]\nname = "x"\nprofile = "p"\nlines = ["hi"]\ncue = "line"\ncue_line = 3\n'
     'expect = { acknowledge = 5 }', "scenario 'x': cue_line: 1 to 1"),
    ('[[scenario]]\nname = "x"\nprofile = "p"\nlines = ["hi"]\ncue = "emergency"\n'
     'expect = { wave = 5 }', "scenario 'x': expect: unknown wave"),
    ('[[scenario]]\nname = "x"\nprofile = "p"\nlines = []\ncue = "emergency"\n'
     'expect = { acknowledge = 5 }', "scenario 'x': lines:"),
])
def test_a_bad_scenario_file_is_refused_naming_the_scenario_and_field(tmp_path: Path, toml,
                                                                      problem):
    path = tmp_path / "drills.toml"
    path.write_text(toml)
    with pytest.raises(ScenarioError, match=problem):
        load_scenarios(path)


def test_a_drill_call_is_summarized_but_never_queued_for_the_webhook(tmp_path: Path):
    db = open_db(tmp_path / "calls.db")
    for sid, drill in (("CAreal", None), ("CAdrill", "drill-x")):
        write_event(db, ev.CallStarted(sid, stream_sid="MZ1"))
        if drill:
            write_event(db, ev.DrillCallStarted(sid, drill=drill, scenario="silent"))
        summarized = ev.CallSummarized(sid, summary="s", disposition="d")
        write_event(db, summarized)
        enqueue(db, summarized)
    queued = [row[0] for row in db.execute(f"SELECT call_sid FROM {OUTBOX}").fetchall()]
    drills = dict(db.execute("SELECT call_sid, drill FROM calls").fetchall())
    assert queued == ["CAreal"]
    assert drills == {"CAreal": None, "CAdrill": "drill-x"}
