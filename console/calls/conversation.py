"""The conversation as the LLM sees it: system prompt, caller turns, and what the agent said,
cut to what the caller actually heard."""

from __future__ import annotations

from collections.abc import Iterable

from console.providers.base import ChatMessage
from console.providers.history import trim_history


class Conversation:
    def __init__(self, system_prompt: str) -> None:
        self.messages: list[ChatMessage] = [ChatMessage("system", system_prompt)]
        self._pinned: list[ChatMessage] = []  # operator guidance: never trimmed away

    def caller_said(self, text: str, *, restated: bool = False) -> str:
        """Add a caller turn; words that were not answered yet join it, unless `restated` (the
        recognizer repeated them in `text`: they replace it). Returns the turn's text."""
        if self.messages[-1].role == "user":
            earlier = self.messages.pop().content
            text = text if restated else f"{earlier} {text}"
        self.messages.append(ChatMessage("user", text))
        return text

    def agent_said(self, text: str) -> None:
        if text:
            self.messages.append(ChatMessage("assistant", text))

    def replay(self, turns: Iterable[tuple[str, str]], unanswered: str = "") -> None:
        """The turns of a call that began on another worker (fleet failover), as TurnCompleted
        named them: the caller's become user messages, the agent's and an operator's (both
        spoken to the caller) assistant ones. `unanswered`: the caller's words since their
        last turn, which the next reply must still take in."""
        for role, text in turns:
            if role == "caller":
                self.caller_said(text)
            else:
                self.agent_said(text)
        if unanswered:
            self.caller_said(unanswered)

    def guidance(self, text: str) -> None:
        """An operator's whisper: for the next reply and the rest of the call, never spoken."""
        message = ChatMessage("system", f"Operator guidance: {text}")
        self.messages.append(message)
        self._pinned.append(message)

    def for_llm(self) -> list[ChatMessage]:
        """The newest turns within budget (trim_history); a whisper the trim dropped stays,
        after the system prompt (issue 15: guidance must outlive a long call)."""
        kept = trim_history(self.messages)
        lost = [m for m in self._pinned if not any(m is k for k in kept)]
        return [kept[0], *lost, *kept[1:]] if lost else kept
