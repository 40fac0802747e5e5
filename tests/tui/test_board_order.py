"""The board's calm order (console/tui/ranking.py): who moves, when, and who keeps their line.

`settle` takes the order on screen and every call's standing, and gives the next order; the
rows are written as the board would show them, top first: "A 20" is call A at 20 points,
"A 20 ended" an ended call, "A 100 alert" a call with an alert on it.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.risk import Assessment
from console.tui.call_state import Alert, CallState
from console.tui.ranking import (
    BoardOrder,
    Standing,
    admit,
    band,
    ranked,
    settle,
)


def rows(*lines: str) -> tuple[list[str], dict[str, Standing]]:
    order, standings = [], {}
    for n, line in enumerate(lines):
        sid, score, *flags = line.split()
        order.append(sid)
        standings[sid] = Standing("ended" not in flags, int(score),
                                  band(int(score), critical="alert" in flags), float(n))
    return order, standings


@pytest.mark.parametrize(("board", "expected"), [
    # similar scores wobbling past each other do not shuffle the rows
    (["A 20", "B 26"], "A B"),
    (["A 20", "B 29"], "A B"),
    (["A 40", "B 20", "C 28"], "A B C"),
    # a clear rise (the margin, 10 points) moves a call up at once
    (["A 20", "B 30"], "B A"),
    (["A 50", "B 20", "C 45", "D 70"], "D A C B"),  # C a band over B, D 20 over A
    # crossing a band moves a call up whatever the points: a first worry, yellow, red
    (["A 0", "B 6"], "B A"),
    (["A 30", "B 36"], "B A"),
    (["A 95", "B 101"], "B A"),
    # a call that turns critical (an alert) goes to the top, above more points
    (["A 120", "B 50", "C 90 alert"], "C A B"),
    # ties keep their order, whichever it is
    (["A 20", "B 20", "C 20"], "A B C"),
    (["C 20", "A 20", "B 20"], "C A B"),
    (["B 0", "A 0"], "B A"),
    # a call that ended sinks below every live call, even with more points
    (["A 60 ended", "B 0", "C 12"], "C B A"),
    # a clear rise passes the similar calls in between too: nobody is left under a call
    # clearly below it (R 30 is clearly above P 20, so it passes Q 25 on the way)
    (["P 20", "Q 25", "R 30"], "R P Q"),
])
def test_settle_moves_a_call_only_past_calls_it_is_clearly_above(board: list[str],
                                                                 expected: str) -> None:
    order, standings = rows(*board)
    assert settle(order, standings) == expected.split()


def test_new_calls_come_in_at_their_place_and_calls_gone_leave() -> None:
    order, standings = rows("A 50", "B 0", "C 0 ended")
    standings |= rows("D 20", "E 0")[1]
    del standings["B"]
    assert settle(order, standings) == ["A", "D", "E", "C"]


def test_a_board_that_starts_full_reads_as_the_strict_ranking() -> None:
    _, standings = rows("A 0", "B 26", "C 30", "D 0 ended", "E 90 alert", "F 20")
    assert settle([], standings) == ["E", "C", "B", "F", "A", "D"]


def test_between_re_sorts_new_calls_come_in_and_the_others_keep_their_lines() -> None:
    order, standings = rows("A 0", "B 0", "C 12")  # C rose since the last re-sort
    standings |= rows("D 15")[1]
    assert admit(order, standings) == ["D", "A", "B", "C"]


def _standings() -> st.SearchStrategy[list[Standing]]:
    standing = st.builds(lambda live, score, critical: Standing(live, score,
                                                                band(score, critical), 0.0),
                         st.booleans(), st.integers(0, 150), st.booleans())
    return st.lists(standing, max_size=12)


@given(_standings())
def test_after_a_settle_no_call_is_under_one_it_is_clearly_above(
        given_rows: list[Standing]) -> None:
    standings = {f"C{n}": each for n, each in enumerate(given_rows)}
    order = settle(list(standings), standings)
    assert sorted(order) == sorted(standings)
    for upper, lower in ((a, b) for i, a in enumerate(order) for b in order[i + 1:]):
        assert not standings[lower].clearly_above(standings[upper])


@given(_standings())
def test_a_settled_board_stays_as_it_is(given_rows: list[Standing]) -> None:
    standings = {f"C{n}": each for n, each in enumerate(given_rows)}
    order = settle(list(standings), standings)
    assert settle(order, standings) == order


# -- over time ----------------------------------------------------------------------------------


def call(sid: str, score: int = 0, started_at: float = 0.0) -> CallState:
    made = CallState(sid, started_at=started_at)
    made.risk.assessment = Assessment(score)
    return made


def sids(calls: list[CallState]) -> list[str]:
    return [each.call_sid for each in calls]


def test_the_board_re_sorts_only_when_asked() -> None:
    board = [call("A", 20, 1.0), call("B", 0, 2.0)]
    order = BoardOrder()
    assert sids(order.order(board, resort=False)) == ["A", "B"]
    board[1].risk.assessment = Assessment(45)  # B turns risky
    assert sids(order.order(board, resort=False)) == ["A", "B"]
    assert sids(order.order(board, resort=True)) == ["B", "A"]  # the clock's tick


def test_a_call_turning_critical_goes_to_the_top_at_once() -> None:
    board = [call("A", 60, 1.0), call("B", 0, 2.0), call("C", 0, 3.0)]
    order = BoardOrder()
    order.order(board, resort=True)
    board[2].alert = Alert("chest pain", "caller", "my chest hurts", at=5.0)
    board[2].risk.assessment = Assessment(100)
    assert sids(order.order(board, resort=False)) == ["C", "A", "B"]


def test_new_calls_between_re_sorts_do_not_move_the_others() -> None:
    board = [call("A", 0, 1.0), call("B", 0, 2.0)]
    order = BoardOrder()
    order.order(board, resort=True)
    board[1].risk.assessment = Assessment(30)  # B rose: it waits for the next re-sort
    board += [call("C", 0, 3.0), call("D", 50, 4.0)]
    assert sids(order.order(board, resort=False)) == ["D", "A", "B", "C"]


def test_the_strict_ranking_puts_a_critical_call_above_more_points() -> None:
    alarmed = call("B", 80, 2.0)
    alarmed.alert = Alert("", "system", "every transfer failed", at=5.0)
    assert sids(ranked([call("A", 110, 1.0), alarmed, call("C", 0, 0.5)])) == ["B", "A", "C"]
