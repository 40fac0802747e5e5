"""Keep a conversation inside the LLM's budget.

Every turn resends the whole conversation, so a long call grows the prompt, the time to first
token and the bill with each turn. Each turn therefore sends the system prompt plus only the
newest turns: 12,000 characters is roughly 3,000 tokens of English (~4 characters a token).
"""

from __future__ import annotations

from collections.abc import Sequence

from console.providers.base import ChatMessage


def trim_history(
    messages: Sequence[ChatMessage], max_turns: int = 20, max_chars: int = 12000
) -> list[ChatMessage]:
    """The leading system message(s) plus the newest messages that fit both budgets.

    A "turn" is one message. `max_chars` counts the content of everything returned, system
    prompt included. The newest message is always kept, even over budget: without it the model
    would answer a question nobody just asked. Order is preserved; the input is not changed.
    """
    system, rest = _split_leading_system(messages)
    if not rest:
        return list(system)
    budget = max_chars - sum(len(m.content) for m in system)
    kept = _newest_within(rest, max(max_turns, 1), budget)
    return [*system, *kept]


def _split_leading_system(
    messages: Sequence[ChatMessage],
) -> tuple[list[ChatMessage], list[ChatMessage]]:
    count = 0
    while count < len(messages) and messages[count].role == "system":
        count += 1
    return list(messages[:count]), list(messages[count:])


def _newest_within(rest: list[ChatMessage], max_turns: int, budget: int) -> list[ChatMessage]:
    kept = [rest[-1]]
    used = len(rest[-1].content)
    for message in reversed(rest[:-1]):
        if len(kept) >= max_turns or used + len(message.content) > budget:
            break
        kept.append(message)
        used += len(message.content)
    kept.reverse()
    return kept
