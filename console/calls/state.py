"""The call's mode: one object, one table of legal moves, one `transition()`.

Who has the floor is a mode (greeting, listening, thinking, speaking, paused for the caller,
operator, transferring, ending). Muted and listening-paused are flags beside it, because either
can hold in any live mode. Every move goes through `transition()`, which checks it against
`MOVES` and publishes `StateChanged`, so a rule such as "a handed-back escalation is over" or
"nothing is answered once the call is ending" lives in this table and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class CallMode(StrEnum):
    GREETING = "greeting"
    LISTENING = "listening"  # the caller has the floor (or nobody does)
    THINKING = "thinking"  # a reply is being prepared; nothing of it is audible yet
    SPEAKING = "speaking"  # agent audio is playing
    PAUSED = "paused"  # the caller spoke over the agent: its reply is held, not yet dropped
    OPERATOR = "operator"  # a person has the call; the agent is silent
    TRANSFERRING = "transferring"  # an emergency escalation or an operator's transfer
    ON_HOLD = "on hold"  # a warm transfer holds the caller: their stream ended, the call did not
    ENDING = "ending"  # hanging up: the last line may still be playing
    ENDED = "ended"


M = CallMode
# Any live mode may hand the call to a person, start a transfer or end it.
_ALWAYS = frozenset({M.OPERATOR, M.TRANSFERRING, M.ENDING, M.ENDED})

MOVES: dict[CallMode, frozenset[CallMode]] = {
    M.GREETING: frozenset({M.LISTENING, M.SPEAKING, M.PAUSED, M.THINKING}) | _ALWAYS,
    M.LISTENING: frozenset({M.THINKING, M.SPEAKING, M.PAUSED}) | _ALWAYS,
    M.THINKING: frozenset({M.SPEAKING, M.LISTENING, M.PAUSED}) | _ALWAYS,
    M.SPEAKING: frozenset({M.LISTENING, M.PAUSED, M.THINKING}) | _ALWAYS,
    M.PAUSED: frozenset({M.SPEAKING, M.LISTENING, M.THINKING}) | _ALWAYS,
    # Hand-back returns to listening: whatever escalation was running is over.
    M.OPERATOR: frozenset({M.LISTENING, M.TRANSFERRING, M.ENDING, M.ENDED}),
    # A failed operator transfer gives the call back to the agent.
    M.TRANSFERRING: frozenset({M.OPERATOR, M.LISTENING, M.ON_HOLD, M.ENDING, M.ENDED}),
    # Held for a warm transfer: a person takes the call, or the caller comes back on a new
    # stream (a new session) or leaves; for this session either way the call is over.
    M.ON_HOLD: frozenset({M.ENDED}),
    M.ENDING: frozenset({M.ENDED}),
    M.ENDED: frozenset(),
}

# Modes in which the agent may start a reply of its own (not a line an operator asked for).
ANSWERING = frozenset({M.GREETING, M.LISTENING, M.THINKING, M.SPEAKING, M.PAUSED})
# The agent's own turn: its reply (or greeting) is being prepared, spoken or held for the caller.
# When that reply ends, played or stopped, the call goes back to listening.
AGENT_TURN = frozenset({M.GREETING, M.THINKING, M.SPEAKING, M.PAUSED})
# The caller's sound over the agent pauses it in these; an operator's voice is never paused.
PAUSABLE = frozenset({M.GREETING, M.LISTENING, M.THINKING, M.SPEAKING})
# The first frame the caller hears of a reply or line makes these "speaking" (in operator or
# transfer modes the line is spoken without changing who has the call).
SPEAKS_ON_FIRST_FRAME = frozenset({M.GREETING, M.LISTENING, M.THINKING})


class IllegalTransition(RuntimeError):
    """A move the table does not allow: a bug in the caller of `transition()`."""


class CallState:
    def __init__(self, on_change: Callable[[CallMode], None]) -> None:
        self.mode = M.GREETING
        self.muted = False
        self.listening_paused = False
        self._on_change = on_change

    def transition(self, to: CallMode) -> None:
        """Move to `to`; staying put is always allowed and publishes nothing."""
        if to == self.mode:
            return
        if to not in MOVES[self.mode]:
            raise IllegalTransition(f"{self.mode} -> {to}")
        self.mode = to
        self._on_change(to)

    def try_transition(self, to: CallMode) -> bool:
        """Move if the table allows it; False when it does not (a late event after an end)."""
        if to != self.mode and to not in MOVES[self.mode]:
            return False
        self.transition(to)
        return True

    @property
    def agent_may_answer(self) -> bool:
        """A caller turn gets an answer: the agent has the call and nobody silenced it."""
        return self.mode in ANSWERING and not (self.muted or self.listening_paused)

