"""The call's mode: every move in the table is allowed, every other move is refused."""

from __future__ import annotations

import itertools

import pytest

from console.calls.state import MOVES, CallMode, CallState, IllegalTransition

M = CallMode
# Sorted: xdist workers must collect the same tests in the same order (sets are unordered).
LEGAL = [(a, b) for a in CallMode for b in sorted(MOVES[a])]
ILLEGAL = [(a, b) for a, b in itertools.product(CallMode, CallMode)
           if a != b and b not in MOVES[a]]


def state_in(mode: CallMode) -> tuple[CallState, list[CallMode]]:
    published: list[CallMode] = []
    state = CallState(published.append)
    state.mode = mode
    return state, published


@pytest.mark.parametrize(("start", "to"), LEGAL)
def test_a_legal_move_changes_the_mode_and_is_published_once(start, to):
    state, published = state_in(start)
    state.transition(to)
    assert state.mode is to and published == [to]


@pytest.mark.parametrize(("start", "to"), ILLEGAL)
def test_an_illegal_move_is_refused_and_leaves_the_mode_alone(start, to):
    state, published = state_in(start)
    with pytest.raises(IllegalTransition):
        state.transition(to)
    assert not state.try_transition(to)
    assert state.mode is start and published == []


def test_the_table_has_the_rules_the_call_depends_on():
    assert MOVES[M.ENDED] == frozenset()  # nothing happens after the end
    assert MOVES[M.ENDING] == {M.ENDED}  # nothing is answered once hanging up
    assert M.LISTENING in MOVES[M.OPERATOR]  # hand-back returns to answering
    assert M.PAUSED in MOVES[M.SPEAKING] and M.SPEAKING in MOVES[M.PAUSED]  # pause, resume
    assert M.PAUSED not in MOVES[M.OPERATOR]  # an operator's voice is never paused by the agent
    assert all(M.ENDED in MOVES[m] for m in CallMode if m is not M.ENDED)


def test_staying_in_the_same_mode_publishes_nothing():
    state, published = state_in(M.LISTENING)
    state.transition(M.LISTENING)
    assert published == []


@pytest.mark.parametrize(("mode", "muted", "paused", "answers"), [
    (M.LISTENING, False, False, True), (M.SPEAKING, False, False, True),
    (M.PAUSED, False, False, True), (M.LISTENING, True, False, False),
    (M.LISTENING, False, True, False), (M.OPERATOR, False, False, False),
    (M.TRANSFERRING, False, False, False), (M.ENDING, False, False, False),
])
def test_the_agent_answers_only_when_it_has_the_call_and_nobody_silenced_it(
        mode, muted, paused, answers):
    state, _ = state_in(mode)
    state.muted, state.listening_paused = muted, paused
    assert state.agent_may_answer is answers
