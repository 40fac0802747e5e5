"""A runtime stand-in for the console: scripted events on a real EventBus, recorded control calls.

Like the real CallControl, the fake control announces every action as an OperatorActed event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from console.calls.control import ACTING_FOR
from console.events import (
    AgentInterrupted,
    AgentSpoke,
    CallerTranscribed,
    CallEvent,
    CallStarted,
    EmergencyDetected,
    EventBus,
    OperatorActed,
    StateChanged,
    TransferAttempted,
    TurnCompleted,
    TurnMeasured,
)
from console.storage.records import CallDetail, CallRecord
from console.tui.backend import BackendStatus, Progress

T0 = 1_700_000_000.0  # a fixed wall clock, so durations and timelines are the same every run

STARTUP_STEPS = (
    ("settings", "ok (.env)"),
    ("tunnel", "off: PUBLIC_URL given"),
    ("webhook", "synced +15550001111"),
    ("server", "listening on 127.0.0.1:8765"),
    ("tiers", "stt cloud · llm cloud · tts local"),
)


# The OperatorActed.action words console.calls.live.LiveCalls publishes for each method.
ACTION_WORDS = {
    "take_over": "take-over",
    "hand_back": "hand-back",
    "mute_agent": "mute",
    "pause_listening": "pause-listening",
    "hang_up": "hang-up",
    "warm_transfer": "warm-transfer",
}


class RecordingControl:
    """Implements console.calls.control.CallControl by remembering what was asked."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.calls: list[tuple[Any, ...]] = []
        self.fail_with: Exception | None = None

    def live_calls(self) -> list[str]:
        return []

    async def _record(self, method: str, call_sid: str, actor: str, *args: Any) -> None:
        self.calls.append((method, call_sid, *args, actor))
        if self.fail_with is not None:
            raise self.fail_with
        action = ACTION_WORDS.get(method, method)
        if method == "mute_agent" and not args[0]:
            action = "unmute"
        if method == "pause_listening" and not args[0]:
            action = "resume-listening"
        detail = " ".join(str(a) for a in args if not isinstance(a, bool))
        self._bus.publish(OperatorActed(call_sid, action=action, actor=actor, detail=detail,
                                        request=ACTING_FOR.get()))  # as LiveCalls records it

    async def take_over(self, call_sid: str, actor: str) -> None:
        await self._record("take_over", call_sid, actor)

    async def hand_back(self, call_sid: str, actor: str) -> None:
        await self._record("hand_back", call_sid, actor)

    async def mute_agent(self, call_sid: str, muted: bool, actor: str) -> None:
        await self._record("mute_agent", call_sid, actor, muted)

    async def pause_listening(self, call_sid: str, paused: bool, actor: str) -> None:
        await self._record("pause_listening", call_sid, actor, paused)

    async def say(self, call_sid: str, text: str, actor: str) -> None:
        await self._record("say", call_sid, actor, text)

    async def whisper(self, call_sid: str, guidance: str, actor: str) -> None:
        await self._record("whisper", call_sid, actor, guidance)

    async def transfer(self, call_sid: str, number: str, actor: str) -> None:
        await self._record("transfer", call_sid, actor, number)

    async def warm_transfer(self, call_sid: str, number: str, actor: str,
                            reason: str = "") -> None:
        await self._record("warm_transfer", call_sid, actor, number)

    async def hang_up(self, call_sid: str, actor: str) -> None:
        await self._record("hang_up", call_sid, actor)

    async def send_operator_audio(self, call_sid: str, mulaw: bytes) -> None:
        self.calls.append(("send_operator_audio", call_sid, len(mulaw)))

    # approve-before-speak (issue 15)
    async def gate_replies(self, call_sid: str, on: bool, actor: str) -> None:
        await self._record("gate_replies", call_sid, actor, on)

    async def decide_reply(self, call_sid: str, decision: str, text: str, actor: str) -> None:
        await self._record("decide_reply", call_sid, actor, decision, text)


class EmptyHistory:
    def list_calls(
        self, limit: int | None = 50, offset: int = 0, search: str | None = None, **_: Any
    ) -> list[CallRecord]:
        return []

    def get_call(self, call_sid: str) -> CallDetail | None:
        return None


class FakeBackend:
    def __init__(self, steps: Iterable[tuple[str, str]] = STARTUP_STEPS) -> None:
        self.bus = EventBus()
        self.control = RecordingControl(self.bus)
        self.history = EmptyHistory()
        self.listen_in = None
        self.steps = list(steps)
        self.start_error: Exception | None = None
        self.hold_start: asyncio.Event | None = None  # start() waits on it after the steps
        self.hold_stop: asyncio.Event | None = None  # stop() waits on it before finishing
        self.started = False
        self.stop_calls = 0
        self.stopped = False

    async def start(self, progress: Progress) -> None:
        for step, status in self.steps:
            progress(step, status)
        if self.hold_start is not None:
            await self.hold_start.wait()
        if self.start_error is not None:
            raise self.start_error
        self.started = True

    async def stop(self) -> None:
        self.stop_calls += 1
        if self.hold_stop is not None:
            await self.hold_stop.wait()
        self.stopped = True

    def status(self) -> BackendStatus:
        return {
            "public_url": "https://console-test.example",
            "tunnel": "off",
            "webhook": "synced",
            "tiers": {"stt": "cloud", "llm": "cloud", "tts": "local"},
            "errors": {"protocol": 0, "provider": 1},
        }

    def play(self, events: Iterable[CallEvent]) -> None:
        """Publish a script of events, in order, as the runtime would."""
        for event in events:
            self.bus.publish(event)


def call_script(sid: str = "CA1", caller: str = "+15551230001", t0: float = T0) -> list[CallEvent]:
    """A call a few turns in: greeting, one caller turn, a measured agent reply, an interruption."""
    return [
        CallStarted(
            sid,
            stream_sid=f"MZ{sid}",
            from_number=caller,
            to_number="+15550001111",
            profile="scheduling",
            at=t0,
        ),
        StateChanged(sid, state="greeting", at=t0 + 0.1),
        AgentSpoke(sid, text="Hello, this is the clinic. How can I help?", at=t0 + 0.2),
        TurnCompleted(
            sid,
            role="agent",
            text="Hello, this is the clinic. How can I help?",
            started=t0 + 0.2,
            ended=t0 + 2.5,
            at=t0 + 2.5,
        ),
        StateChanged(sid, state="listening", at=t0 + 2.5),
        CallerTranscribed(sid, text="I'd like to book", final=False, at=t0 + 4.0),
        CallerTranscribed(sid, text="I'd like to book an appointment.", final=True, at=t0 + 5.0),
        TurnCompleted(
            sid,
            role="caller",
            text="I'd like to book an appointment.",
            started=t0 + 3.5,
            ended=t0 + 5.0,
            at=t0 + 5.1,
        ),
        StateChanged(sid, state="thinking", at=t0 + 5.1),
        TurnMeasured(sid, turn=1, stages=_stages(180, 240, 90, 560), at=t0 + 5.6),
        StateChanged(sid, state="speaking", at=t0 + 5.6),
        AgentSpoke(sid, text="Sure. Which day suits you best?", at=t0 + 5.6),
        AgentSpoke(sid, text="We have openings on Tuesday and Thursday.", at=t0 + 7.0),
        AgentInterrupted(
            sid,
            heard="Sure. Which day suits you best? We have",
            cause="speech-started",
            at=t0 + 8.0,
        ),
        TurnCompleted(
            sid,
            role="agent",
            text="Sure. Which day suits you best? We have",
            started=t0 + 5.6,
            ended=t0 + 8.0,
            interrupted=True,
            at=t0 + 8.0,
        ),
        StateChanged(sid, state="listening", at=t0 + 8.0),
        TurnMeasured(sid, turn=2, stages=_stages(150, 210, 80, 430), at=t0 + 9.0),
        CallerTranscribed(sid, text="Tuesday", final=False, at=t0 + 9.5),
    ]


def emergency_script(sid: str = "CA1", t0: float = T0) -> list[CallEvent]:
    return [
        EmergencyDetected(
            sid,
            source="caller",
            phrase="chest pain",
            text="I have chest pain and my arm is numb",
            at=t0 + 20.0,
        ),
        StateChanged(sid, state="transferring", at=t0 + 20.1),
        TransferAttempted(sid, target="+15550009999", attempt=1, ok=True, at=t0 + 20.5),
    ]


def _stages(stt: float, llm: float, tts: float, v2v: float) -> dict[str, float]:
    """Shaped like console.calls.metrics.TurnClock.report(): gaps between stages, then totals."""
    return {
        "speech_end->stt_final": stt,
        "llm_request->llm_first_token": llm,
        "first_sentence->tts_first_byte": tts,
        "voice_to_voice": v2v,
    }
