"""What a call needs from the outside world, as Protocols the runtime fills in.
The calls ring never imports Twilio or aiohttp; runtime.py adapts them to these."""

from __future__ import annotations

from typing import Protocol


class CallActions(Protocol):
    """Actions on the phone call itself (Twilio REST in production)."""

    async def hang_up(self, call_sid: str) -> bool:
        """End the call. False when it had already ended."""
        ...

    async def transfer(self, call_sid: str, number: str, *, announce: str | None = None) -> None:
        """Redirect the call to dial `number`. Raises on failure (the caller decides on retries)."""
        ...


class GreetingSource(Protocol):
    """Greeting audio prepared ahead, so the caller hears the agent the moment the stream starts."""

    def cached(self, profile: str, text: str) -> bytes | None: ...

    def remember(self, profile: str, text: str, mulaw: bytes) -> None: ...


class MemoryGreetings:
    def __init__(self) -> None:
        self._audio: dict[tuple[str, str], bytes] = {}

    def cached(self, profile: str, text: str) -> bytes | None:
        return self._audio.get((profile, text))

    def remember(self, profile: str, text: str, mulaw: bytes) -> None:
        self._audio[(profile, text)] = mulaw
