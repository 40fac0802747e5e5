"""trim_history keeps the system prompt and the newest turns within both budgets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from console.providers.base import ChatMessage
from console.providers.history import trim_history

SYSTEM = ChatMessage("system", "You book appointments.")


def turns(count: int, size: int = 10) -> list[ChatMessage]:
    roles = ("user", "assistant")
    return [ChatMessage(roles[i % 2], f"{i:0{size}d}") for i in range(count)]


def test_a_short_conversation_is_returned_unchanged() -> None:
    messages = [SYSTEM, *turns(4)]

    assert trim_history(messages) == messages


def test_the_system_prompt_and_the_newest_turns_survive_a_long_call() -> None:
    messages = [SYSTEM, *turns(50)]

    trimmed = trim_history(messages, max_turns=6)

    assert trimmed == [SYSTEM, *messages[-6:]]


def test_the_character_budget_counts_the_system_prompt_too() -> None:
    history = turns(10, size=100)  # 100 characters each
    budget = len(SYSTEM.content) + 350

    trimmed = trim_history([SYSTEM, *history], max_turns=20, max_chars=budget)

    assert trimmed == [SYSTEM, *history[-3:]]


def test_the_newest_message_is_kept_even_when_it_alone_is_over_budget() -> None:
    question = ChatMessage("user", "x" * 500)

    trimmed = trim_history([SYSTEM, *turns(3), question], max_chars=100)

    assert trimmed == [SYSTEM, question]


def test_a_conversation_without_a_system_prompt_keeps_only_the_newest_turns() -> None:
    messages = turns(5)

    assert trim_history(messages, max_turns=2) == messages[-2:]


def test_the_input_list_is_left_untouched() -> None:
    messages = [SYSTEM, *turns(30)]
    before = list(messages)

    trim_history(messages, max_turns=3)

    assert messages == before


@given(
    count=st.integers(min_value=0, max_value=40),
    max_turns=st.integers(min_value=1, max_value=25),
    max_chars=st.integers(min_value=0, max_value=2000),
)
def test_trimming_always_keeps_a_newest_suffix_within_budget(
    count: int, max_turns: int, max_chars: int
) -> None:
    history = turns(count, size=30)

    trimmed = trim_history([SYSTEM, *history], max_turns=max_turns, max_chars=max_chars)

    assert trimmed[0] == SYSTEM
    kept = trimmed[1:]
    assert kept == history[len(history) - len(kept) :]
    assert len(kept) <= max(max_turns, 1)
    if len(kept) > 1:
        assert sum(len(m.content) for m in trimmed) <= max_chars
    if history:
        assert kept[-1] == history[-1]
