"""The seam between the wire (console.telephony) and the calls (console.calls).

The server parses Twilio frames and drives a StreamHandler; the handler answers through a
MediaSender. Neither side imports the other: runtime.py hands the server a HandlerFactory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class StreamStart:
    call_sid: str
    stream_sid: str
    account_sid: str = ""
    custom_parameters: dict[str, str] = field(default_factory=dict)


class MediaSender(Protocol):
    """Outbound to the caller. Each call is one WebSocket write; none of them blocks on playout."""

    async def send_audio(self, mulaw: bytes) -> None:
        """One frame (160 bytes = 20 ms) of mu-law audio."""
        ...

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...

    async def close(self, reason: str) -> None:
        """Close the media socket (the call's TwiML after <Connect> then runs)."""
        ...


class StreamHandler(Protocol):
    """Inbound from the caller. The per-frame callbacks are synchronous on purpose: they must only
    hand data on (a queue put), so a slow handler can never stall the socket reader."""

    def on_media(self, mulaw: bytes) -> None: ...

    def on_dtmf(self, digit: str) -> None: ...

    def on_mark(self, name: str) -> None: ...

    async def on_stop(self, reason: str) -> None:
        """The stream ended: `stop` received, socket closed, or server shutting down."""
        ...


HandlerFactory = Callable[[StreamStart, MediaSender], Awaitable[StreamHandler]]
