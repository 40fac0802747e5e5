"""What a call needs from the outside world, as Protocols the runtime fills in.
The calls ring never imports Twilio or aiohttp; runtime.py adapts them to these."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from console.events import CallEvent, EventBus, ProviderDegraded
from console.profiles import Profile
from console.providers.base import ChatMessage, LanguageModel, SpeechToText, TextToSpeech
from console.streams import StreamStart

log = logging.getLogger(__name__)


class CallActions(Protocol):
    """Actions on the phone call itself (Twilio REST in production)."""

    async def hang_up(self, call_sid: str) -> bool:
        """End the call. False when it had already ended."""
        ...

    async def transfer(self, call_sid: str, number: str, *, announce: str | None = None) -> None:
        """Redirect the call to dial `number`. Raises on failure (the caller decides on retries)."""
        ...


class Transcript(Protocol):
    """What was said so far (the session's Conversation)."""

    @property
    def messages(self) -> Sequence[ChatMessage]: ...


class HeldCall(Protocol):
    """A call a warm transfer holds: the session, parked once its stream ends."""

    @property
    def sid(self) -> str: ...

    @property
    def profile(self) -> Profile: ...

    @property
    def start_info(self) -> StreamStart: ...

    @property
    def conversation(self) -> Transcript: ...

    async def end_parked(self, reason: str) -> None:
        """The parked call is over for the agent (a person took it, or the caller left)."""
        ...


class WarmTransferPort(Protocol):
    """Warm transfer (issue 15): the caller waits on hold while a person is called and briefed."""

    async def start(self, call: HeldCall, targets: tuple[str, ...], reason: str) -> None:
        """Move the caller to hold and call the first target. Raises when Twilio refused the
        move (the call then stays where it was)."""
        ...


class GreetingSource(Protocol):
    """Audio prepared ahead for each profile's fixed lines (greeting, holding phrases, apology,
    reprompt, goodbye, the emergency company line), so none of them waits on the TTS."""

    def cached(self, profile: str, text: str) -> bytes | None: ...

    def remember(self, profile: str, text: str, mulaw: bytes) -> None: ...


class CallServices(Protocol):
    """What a call's parts use of its dependencies (the session's CallDeps fills it)."""

    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    bus: EventBus
    actions: CallActions | None
    warm: WarmTransferPort | None
    greetings: GreetingSource


class MemoryGreetings:
    def __init__(self) -> None:
        self._audio: dict[tuple[str, str], bytes] = {}

    def cached(self, profile: str, text: str) -> bytes | None:
        return self._audio.get((profile, text))

    def remember(self, profile: str, text: str, mulaw: bytes) -> None:
        self._audio[(profile, text)] = mulaw


class CallEvents:
    """Publishes one call's facts on the bus: `events(ev.CallEnded, reason="idle")`."""

    def __init__(self, bus: EventBus, call_sid: str) -> None:
        self._bus = bus
        self.call_sid = call_sid

    def __call__(self, kind: Callable[..., CallEvent], **fields: Any) -> None:
        self._bus.publish(kind(self.call_sid, **fields))

    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        """A dependency failed and something weaker took over: logged, and shown to the operator."""
        log.warning("call %s: %s degraded (%s) -> %s", self.call_sid, provider, problem, fallback)
        self(ProviderDegraded, provider=provider, problem=problem, fallback=fallback)


async def close_quietly(provider: object) -> None:
    """Close a per-call provider (a TTS socket, say); a failure to close is logged, not raised:
    the call is over either way."""
    closer = getattr(provider, "aclose", None)
    if closer is None:
        return
    try:
        await closer()
    except Exception:  # noqa: BLE001 - nothing left to save; keep shutting down
        log.warning("closing %s failed", type(provider).__name__, exc_info=True)
