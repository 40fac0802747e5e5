"""In-process stand-ins for the providers and the wire, for unit tests of the call logic.
(Integration tests use the real server and loopback fakes of the vendor protocols instead.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from console.calls.session import CallDeps, CallSession, SessionOptions
from console.events import CallEvent, EventBus
from console.profiles import match_phrases
from console.providers.base import ChatMessage, ProviderError, TranscriptEvent
from console.streams import StreamStart


@dataclass(frozen=True)
class StubProfile:
    name: str = "test"
    system_prompt: str = "You are a test agent."
    greeting: str = "Hello, how can I help?"
    reprompt: str = "Are you still there?"
    goodbye: str = "Goodbye."
    apology: str = "Sorry, I am having trouble. Please hold."
    idle_reprompt_s: float = 30.0
    idle_hangup_s: float = 30.0
    transfer_targets: dict = field(default_factory=lambda: {"default": "+15550009999"})
    caller_emergency_phrases: tuple = ("chest pain", "can't breathe")
    agent_triggers: tuple = ("EMERGENCY_DETECTED",)
    gate_topics: tuple = ("dosage",)
    emergency_transfer: str = "cold"  # as a profile's default: an emergency redirects the call

    def match_caller_emergency(self, text: str) -> str | None:
        return match_phrases(text, self.caller_emergency_phrases)

    def match_agent_trigger(self, text: str) -> str | None:
        return match_phrases(text, self.agent_triggers)

    def match_gate_topic(self, text: str) -> str | None:
        return match_phrases(text, self.gate_topics)


class ScriptedSTT:
    """Yields whatever the test pushes; ignores the audio (but drains it)."""

    tier = "test"

    def __init__(self) -> None:
        self.events: asyncio.Queue[TranscriptEvent] = asyncio.Queue()

    def say(self, kind: str, text: str = "", speech_final: bool = False) -> None:
        self.events.put_nowait(TranscriptEvent(kind, text, speech_final, time.monotonic()))  # type: ignore[arg-type]

    async def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        drain = asyncio.create_task(_drain(audio))
        try:
            while True:
                yield await self.events.get()
        finally:
            drain.cancel()


async def _drain(audio: AsyncIterator[bytes]) -> None:
    async for _ in audio:
        pass


class ScriptedLLM:
    tier = "test"

    def __init__(self, replies: Sequence[str] = ("Sure. I can help with that.",), fail=False):
        self.replies = list(replies)
        self.requests: list[list[ChatMessage]] = []
        self.fail = fail
        self.token_delay = 0.0

    async def reply(self, messages, observer=None) -> AsyncIterator[str]:
        self.requests.append(list(messages))
        if self.fail:
            raise ProviderError("llm down")
        text = self.replies[min(len(self.requests), len(self.replies)) - 1]
        for word in text.split(" "):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            yield word + " "


class ToneTTS:
    """40 ms of non-silent audio per character, in 400-byte chunks."""

    tier = "test"

    def __init__(self, ms_per_char: int = 40) -> None:
        self.ms_per_char = ms_per_char
        self.texts: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self.texts.append(text)
        audio = b"\x10" * (8 * self.ms_per_char * len(text))
        for start in range(0, len(audio), 400):
            await asyncio.sleep(0)
            yield audio[start : start + 400]


@dataclass
class RecordingSender:
    """Plays the far side: records what was sent; echoes marks when asked."""

    wire: list[tuple[str, object]] = field(default_factory=list)
    closed: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_audio(self, mulaw: bytes) -> None:
        self.wire.append(("media", len(mulaw)))
        self.changed.set()

    async def send_mark(self, name: str) -> None:
        self.wire.append(("mark", name))
        self.changed.set()

    async def send_clear(self) -> None:
        self.wire.append(("clear", None))
        self.changed.set()

    async def close(self, reason: str) -> None:
        self.closed = reason
        self.changed.set()

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.wire]

    def marks(self) -> list[str]:
        return [str(name) for kind, name in self.wire if kind == "mark"]


@dataclass
class Harness:
    session: CallSession
    stt: ScriptedSTT
    llm: ScriptedLLM
    tts: ToneTTS
    sender: RecordingSender
    events: list[CallEvent]

    def of_kind(self, kind: str) -> list[CallEvent]:
        return [e for e in self.events if e.kind == kind]

    async def until(self, predicate, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until predicate() holds, re-checking whenever the wire or the bus changes."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self.sender.changed.clear()
                try:
                    await asyncio.wait_for(self.sender.changed.wait(), 0.05)
                except TimeoutError:
                    pass

    def echo_marks(self) -> None:
        for name in self.sender.marks():
            self.session.on_mark(name)


def make_harness(llm: ScriptedLLM | None = None, **options) -> Harness:
    bus = EventBus()
    events: list[CallEvent] = []
    bus.subscribe(events.append)
    stt, tts, sender = ScriptedSTT(), ToneTTS(), RecordingSender()
    llm = llm or ScriptedLLM()
    deps = CallDeps(stt=stt, llm=llm, tts=tts, profile=StubProfile(), bus=bus,
                    options=SessionOptions(**{"lead_s": 10.0, **options}))
    start = StreamStart(call_sid="CA" + "1" * 32, stream_sid="MZ" + "2" * 32)
    session = CallSession(start, sender, deps)
    return Harness(session, stt, llm, tts, sender, events)
