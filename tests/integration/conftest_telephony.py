"""Fixtures and helpers for the telephony tests: a real MediaServer on 127.0.0.1 with small
recording handlers, and a raw WebSocket peer for sending whatever we like.

Import what you need from here (`from tests.integration.conftest_telephony import ...`) and
declare the fixture in the test module:

    @pytest.fixture
    async def telephony():
        async with telephony_servers() as start:
            yield start
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from twilio.request_validator import RequestValidator

from console import audio_codec as audio
from console.config import Settings, load_settings
from console.events import CallEvent, EventBus, ProtocolErrorCounted
from console.simulate.caller import CallerOptions, SimulatedCaller
from console.streams import MediaSender, StreamStart
from console.telephony import twilio_protocol as tp
from console.telephony.server import MediaServer

TOKEN = "12345"
PUBLIC_URL = "https://abc.ngrok.app"
TONE = bytes([0x10]) * audio.FRAME_BYTES  # a loud, non-silent mu-law frame


class Changes:
    """One signal everything in a test harness pokes when something happens, so tests wait on
    facts ("handler saw 3 digits") instead of sleeping."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def poke(self) -> None:
        self._event.set()

    async def until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while True:
                self._event.clear()  # clear before checking: a poke after the check still wakes us
                if predicate():
                    return
                await self._event.wait()


@dataclass
class HandlerScript:
    """How a RecordingHandler answers. Digits: any digit -> `reply_frames` of tone then a mark
    named `dtmf-<digit>`; `clear_digit` -> clear. `reply_after_speech`: answer each caller
    utterance (speech frames followed by silence) with `reply_frames` of tone and a mark."""

    reply_frames: int = 5
    clear_digit: str = "*"
    reply_after_speech: bool = False
    clear_on_speech_while_replying: bool = False


class RecordingHandler:
    """A StreamHandler that writes down everything and answers per its HandlerScript."""

    def __init__(
        self, start: StreamStart, sender: MediaSender, script: HandlerScript, changes: Changes
    ) -> None:
        self.start, self.sender, self.script, self.changes = start, sender, script, changes
        self.media: list[bytes] = []
        self.media_times: list[float] = []
        self.dtmf: list[str] = []
        self.marks: list[str] = []
        self.mark_times: dict[str, float] = {}
        self.sent_marks: dict[str, float] = {}
        self.stops: list[str] = []
        self.clears_sent = 0
        self._in_speech = False
        self._replying = False
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- StreamHandler ----
    def on_media(self, mulaw: bytes) -> None:
        self.media.append(mulaw)
        self.media_times.append(time.monotonic())
        self._follow_speech(mulaw != audio.silence(audio.FRAME_MS))
        self.changes.poke()

    def on_dtmf(self, digit: str) -> None:
        self.dtmf.append(digit)
        if digit == self.script.clear_digit:
            self._spawn(self._clear(), "clear")
        else:
            self._spawn(self.reply(f"dtmf-{digit}"), f"reply-{digit}")
        self.changes.poke()

    def on_mark(self, name: str) -> None:
        self.marks.append(name)
        self.mark_times[name] = time.monotonic()
        if name.startswith("reply-"):
            self._replying = False
        self.changes.poke()

    async def on_stop(self, reason: str) -> None:
        self.stops.append(reason)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.changes.poke()

    # ---- answering ----
    async def reply(self, mark: str, frames: int | None = None) -> None:
        for _ in range(self.script.reply_frames if frames is None else frames):
            await self.sender.send_audio(TONE)
        self.sent_marks[mark] = time.monotonic()
        await self.sender.send_mark(mark)

    async def _clear(self) -> None:
        self.clears_sent += 1
        await self.sender.send_clear()

    def _follow_speech(self, speaking: bool) -> None:
        if speaking and not self._in_speech and self._replying:
            if self.script.clear_on_speech_while_replying:
                self._replying = False
                self._spawn(self._clear(), "barge-in-clear")
        if self._in_speech and not speaking and self.script.reply_after_speech:
            self._replying = True
            self._spawn(self.reply(f"reply-{len(self.sent_marks)}"), "reply-speech")
        self._in_speech = speaking

    def _spawn(self, job: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(job)
        task.set_name(f"handler-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@dataclass
class Telephony:
    """A running server plus everything it produced."""

    server: MediaServer
    settings: Settings
    changes: Changes
    script: HandlerScript
    handlers: list[RecordingHandler] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)

    def errors(self, reason: str | None = None) -> list[ProtocolErrorCounted]:
        found = [e for e in self.events if isinstance(e, ProtocolErrorCounted)]
        return [e for e in found if reason is None or e.reason == reason]

    def handler_for(self, call_sid: str) -> RecordingHandler:
        return next(h for h in self.handlers if h.start.call_sid == call_sid)

    async def until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        await self.changes.until(predicate, within)

    def caller(self, **overrides: Any) -> SimulatedCaller:
        options = dict(
            url=self.server.media_url, wait_for_greeting=False, fast=True, reply_quiet_ms=150
        )
        if self.settings.validates_signatures:
            options.update(auth_token=TOKEN, signed_url=self.server.address.stream_url())
        options.update(overrides)
        return SimulatedCaller(CallerOptions(**options))


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        server_host="127.0.0.1",
        server_port=0,
        twilio_auth_token=None,
        public_url=None,
        twilio_signature_validation=True,
        _env_file=None,
    )
    values.update(overrides)
    return load_settings(**values)


async def start_telephony(script: HandlerScript | None = None, **overrides: Any) -> Telephony:
    settings = make_settings(**overrides)
    bus, changes = EventBus(), Changes()
    harness: Telephony

    async def factory(start: StreamStart, sender: MediaSender) -> RecordingHandler:
        handler = RecordingHandler(start, sender, harness.script, changes)
        harness.handlers.append(handler)
        changes.poke()
        return handler

    server = MediaServer(settings, factory, bus)
    harness = Telephony(server, settings, changes, script or HandlerScript())
    bus.subscribe(lambda event: (harness.events.append(event), changes.poke()))
    await server.start()
    return harness


@contextlib.asynccontextmanager
async def telephony_servers() -> AsyncIterator[Callable[..., Awaitable[Telephony]]]:
    """Back a per-module fixture with this (fixtures imported across modules trip ruff F811):
    `start = ...; harness = await start(HandlerScript(...), twilio_auth_token=...)`; every server
    started is stopped on exit."""
    started: list[Telephony] = []

    async def start(script: HandlerScript | None = None, **overrides: Any) -> Telephony:
        harness = await start_telephony(script, **overrides)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.server.stop()


# ---- a raw peer -----------------------------------------------------------------------------

CALL_SID = "CA" + "0" * 32
STREAM_SID = "MZ" + "0" * 32


def signature_for(url: str, params: dict[str, str] | None = None, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params or {})


@contextlib.asynccontextmanager
async def raw_socket(
    harness: Telephony, start: bool = True, call_sid: str = CALL_SID
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A bare WebSocket to /media (optionally after connected + start) for hand-made frames."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(harness.server.media_url) as ws:
            if start:
                await ws.send_str(tp.build_connected())
                await ws.send_str(tp.build_start(STREAM_SID, call_sid, "AC" + "0" * 32))
                await harness.until(
                    lambda: any(h.start.call_sid == call_sid for h in harness.handlers)
                )
            yield ws


def media_message(payload: bytes = TONE, stream_sid: str = STREAM_SID) -> str:
    return tp.build_inbound_media(stream_sid, payload, 2, 1, 0)
