"""The conversation as the LLM sees it: system prompt, caller turns, and what the agent said,
cut to what the caller actually heard."""

from __future__ import annotations

from console.providers.base import ChatMessage
from console.providers.history import trim_history


class Conversation:
    def __init__(self, system_prompt: str) -> None:
        self.messages: list[ChatMessage] = [ChatMessage("system", system_prompt)]

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

    def guidance(self, text: str) -> None:
        """An operator's whisper: for the next reply, never spoken."""
        self.messages.append(ChatMessage("system", f"Operator guidance: {text}"))

    def for_llm(self) -> list[ChatMessage]:
        return trim_history(self.messages)
