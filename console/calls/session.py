"""One phone call: caller audio in, agent speech out, and every decision in between.

The session is a StreamHandler (console.streams): the server feeds it frames and it answers
through a MediaSender. Urgent control (barge-in, take-over, emergency, hang-up) cancels in-flight
LLM and TTS work before anything else happens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from console import events as ev
from console.calls.deadair import DeadAirWatchdog, SpeechTracker
from console.calls.listening import Listening
from console.calls.metrics import TurnClock
from console.calls.operator import OperatorActions
from console.calls.pacing import Pacer
from console.calls.ports import CallActions, GreetingSource, MemoryGreetings
from console.calls.reply import AgentReply
from console.calls.tasks import TaskOwner, cancel_and_wait
from console.calls.triage import AgentScanner, Escalation, TriageHooks
from console.calls.turns import CallerTurn, TurnDetector
from console.events import EventBus
from console.providers.base import (
    ChatMessage,
    LanguageModel,
    ProviderError,
    SpeechToText,
    TextToSpeech,
)
from console.providers.history import trim_history
from console.streams import MediaSender, StreamStart

log = logging.getLogger(__name__)

ReplyBody = Callable[[AgentReply], Awaitable[None]]
AudioTap = Callable[[str, bytes], None]  # (leg: "caller" | "agent", 20 ms of mu-law)

HANG_UP_REST_S = 1.0


@dataclass
class SessionOptions:
    barge_in_min_words: int = 2
    """Words (not backchannels) an interim needs to interrupt the agent; 0 = any speech."""
    lead_s: float = 0.100
    """How far ahead of playout frames are sent."""
    idle_reprompt_s: float | None = None
    """Seconds of caller silence after the agent finished before a reprompt (None: profile's)."""
    idle_hangup_s: float | None = None
    """Further silence after the reprompt before goodbye and hang-up (None: profile's)."""
    emergency_numbers: tuple[str, ...] = ()
    """Where an emergency is transferred, in order (EMERGENCY_FALLBACK_NUMBER, then the second)."""


@dataclass
class CallDeps:
    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    profile: Any  # console.profiles.Profile
    bus: EventBus
    actions: CallActions | None = None
    greetings: GreetingSource = field(default_factory=MemoryGreetings)
    options: SessionOptions = field(default_factory=SessionOptions)


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


class CallSession(Listening, OperatorActions, TriageHooks):
    def __init__(self, start: StreamStart, sender: MediaSender, deps: CallDeps) -> None:
        self.sid = start.call_sid
        self.start_info = start
        self._sender = sender
        self.deps = deps
        self.profile = deps.profile
        self.options = deps.options
        self.pacer = Pacer(sender, lead_s=deps.options.lead_s)
        self.pacer.on_frame_sent = self._frame_sent
        self.tasks = TaskOwner(f"call-{self.sid[-6:]}")
        self.state = "greeting"
        self.history: list[ChatMessage] = [ChatMessage("system", self.profile.system_prompt)]
        self.reply: AgentReply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._turns = TurnDetector()
        self._turn_no = 0
        self._reply_started_wall = 0.0
        self._idle_task: asyncio.Task[None] | None = None
        self._taps: list[AudioTap] = []
        self.speech = SpeechTracker()
        self._filler_frames = range(0)
        self._scanner = AgentScanner(self.profile.match_agent_trigger)
        self.escalation: Escalation | None = None
        self._reply_played = asyncio.Event()
        self.agent_muted = False
        self.listening_paused = False
        self.operator_mode = False
        self.ended = False
        self._usage = {"llm_tokens": 0, "tts_characters": 0, "stt_seconds": 0.0}

    # --- lifecycle -----------------------------------------------------------------------------
    async def begin(self) -> None:
        params = self.start_info.custom_parameters
        self._publish(ev.CallStarted, stream_sid=self.start_info.stream_sid,
                      from_number=params.get("caller", ""), to_number=params.get("called", ""),
                      profile=self.profile.name)
        self.tasks.spawn("pacer", self.pacer.run())
        self.tasks.spawn("listen", self._listen())
        self.tasks.spawn("dead-air", DeadAirWatchdog(self).run())
        self._start_reply(self._greet, TurnClock(), state="greeting", then_idle=True)
        if prepare := getattr(self.deps.tts, "prepare", None):
            self.tasks.spawn("prepare-tts", prepare())  # e.g. open the TTS socket early

    async def on_stop(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        self._audio.put_nowait(None)
        await self.tasks.cancel_all(timeout_s=2.0)
        if self.reply is not None and self.pacer.is_playing():
            heard = self.reply.spoken.heard_text(self.pacer.frames_played())
            self._close_agent_turn(interrupted=True, heard=heard)
        else:
            self._close_agent_turn(interrupted=False)
        self._set_state("ended")
        await close_quietly(self.deps.tts)  # its speak socket and HTTP client belong to the call
        self._publish(ev.UsageRecorded, **self._usage)
        self._publish(ev.PlayoutMeasured, frames_sent=self.pacer.frames_sent,
                      late_frames=self.pacer.late_frames,
                      worst_lateness_ms=round(max(0.0, self.pacer.worst_lateness_s) * 1000, 1))
        self._publish(ev.CallEnded, reason=reason)

    # --- inbound from the wire (synchronous: only hand data on) ----------------------------------
    def on_dtmf(self, digit: str) -> None:
        self._publish(ev.DtmfPressed, digit=digit)
        self._cancel_idle()
        if not self.operator_mode:
            self._answer(CallerTurn(f"(the caller pressed {digit})", time.monotonic(),
                                    time.monotonic()))

    def on_mark(self, name: str) -> None:
        reply = self.reply
        if reply is None or reply.spoken.mark_played(name) is None:
            return  # a mark of a reply that was cleared: never counts as heard
        reply.clock.stamp("first_mark_played", time.monotonic())
        if reply.spoken.all_played and reply.fully_queued:
            self.pacer.played_through()
            self._reply_played.set()

    # --- answering -------------------------------------------------------------------------------
    def _answer(self, turn: CallerTurn) -> None:
        """Start the agent's reply. A reply still being prepared (nothing audible yet) is
        replaced: the caller's extra words join the same user message."""
        text = turn.text
        if self._reply_in_flight() and not self._speaking_reply():
            self._cancel_reply_now()
        if self._last_role() == "user":
            text = f"{self.history.pop().content} {text}"
        self.history.append(ChatMessage("user", text))
        clock = TurnClock()
        clock.stamp("speech_end", min(self.speech.last_loud or turn.final_at, turn.final_at))
        clock.stamp("stt_final", turn.final_at)
        self._start_reply(self._respond, clock, state="thinking", then_idle=True)

    async def _respond(self, reply: AgentReply) -> None:
        if self.agent_muted:
            return
        reply.clock.stamp("llm_request", time.monotonic())
        try:
            await reply.play_tokens(self._llm_tokens())
        except ProviderError as error:
            self._degraded("llm", str(error), "apology")
            await reply.play_text(self.profile.apology)

    async def _llm_tokens(self) -> AsyncIterator[str]:
        messages = trim_history(self.history)
        async for token in self.deps.llm.reply(messages, observer=self):
            yield token

    async def _greet(self, reply: AgentReply) -> None:
        text = self.profile.greeting
        audio = self.deps.greetings.cached(self.profile.name, text)
        if audio is not None:
            reply.play_audio(text, audio)
        else:
            await reply.play_text(text)

    def _start_reply(self, body: ReplyBody, clock: TurnClock, *, state: str,
                     then_idle: bool = False) -> asyncio.Task[None]:
        self._turn_no += 1
        self._reply_played.clear()
        self._reply_started_wall = time.time()
        reply = AgentReply(tts=self.deps.tts, pacer=self.pacer, clock=clock,
                           gate=self.agent_gate, on_sentence=self._sentence_queued,
                           on_tts_error=lambda p: self._degraded("tts", p, "skipped"))
        self.reply = reply
        self._scanner.reset()
        self._set_state(state)
        self._reply_task = self.tasks.spawn(f"reply-{self._turn_no}",
                                            self._run_reply(body, reply, then_idle))
        return self._reply_task

    async def _run_reply(self, body: ReplyBody, reply: AgentReply, then_idle: bool) -> None:
        await body(reply)
        reply.fully_queued = True
        if not reply.spoken.segments:
            self._set_state(self._resting_state())
            return
        if reply.spoken.all_played:
            self._reply_played.set()
        await self._wait_until_played()
        self._close_agent_turn(interrupted=False)
        if then_idle:
            self._idle_task = self.tasks.spawn(f"idle-{self._turn_no}", self._idle_ladder())

    async def _wait_until_played(self) -> None:
        """Marks say when Twilio played the audio; our playout clock is the backstop in case a
        mark never comes back (1 s grace)."""
        backstop = max(0.0, self.pacer.playout_end - time.monotonic()) + 1.0
        while not self._reply_played.is_set():
            try:
                await asyncio.wait_for(self._reply_played.wait(), timeout=backstop)
            except TimeoutError:
                if not self.pacer.is_playing():
                    return
                backstop = max(0.05, self.pacer.playout_end - time.monotonic()) + 1.0

    # --- interruption ----------------------------------------------------------------------------
    async def interrupt(self, cause: str) -> None:
        """Barge-in: clear Twilio's buffer, cancel LLM and TTS, keep only what was heard."""
        reply = self.reply
        if reply is None:
            return
        heard = reply.spoken.heard_text(self.pacer.frames_played())
        task = self._reply_task
        if task is not None:
            task.cancel()
        await self.pacer.clear()
        await cancel_and_wait(task)
        self._publish(ev.AgentInterrupted, heard=heard, cause=cause)
        self._close_agent_turn(interrupted=True, heard=heard)
        self._set_state(self._resting_state())

    def _cancel_reply_now(self) -> None:
        if self._reply_task is not None:
            self._reply_task.cancel()
        self.reply = None

    def _close_agent_turn(self, *, interrupted: bool, heard: str | None = None) -> None:
        reply, self.reply = self.reply, None
        if reply is None or not reply.spoken.segments:
            return
        text = heard if heard is not None else reply.spoken.full_text()
        if text:
            self.history.append(ChatMessage("assistant", text))
        self._publish(ev.TurnCompleted, role="agent", text=text, started=self._reply_started_wall,
                      ended=time.time(), interrupted=interrupted)
        self._publish(ev.TurnMeasured, turn=self._turn_no, stages=reply.clock.report())
        if not interrupted:
            self._set_state(self._resting_state())

    # --- idle ladder -----------------------------------------------------------------------------
    async def _idle_ladder(self) -> None:
        """Caller silence after the agent finished: reprompt, then goodbye and hang up. Any sign
        of the caller (speech, DTMF) cancels this task."""
        if self.operator_mode:
            return
        await asyncio.sleep(self.options.idle_reprompt_s or self.profile.idle_reprompt_s)
        await self.speak_line(self.profile.reprompt)
        await asyncio.sleep(self.options.idle_hangup_s or self.profile.idle_hangup_s)
        await self.speak_line(self.profile.goodbye)
        await self.end_call("idle")

    def _cancel_idle(self) -> None:
        if self._idle_task is not None and self._idle_task is not asyncio.current_task():
            self._idle_task.cancel()
            self._idle_task = None

    async def speak_line(self, text: str, *, then_idle: bool = False,
                         state: str = "speaking") -> bool:
        """Say a fixed line (reprompt, apology, goodbye, operator text); return once played."""
        if self._agent_audible() and self._reply_task is not asyncio.current_task():
            await self.interrupt("operator")

        async def body(reply: AgentReply) -> None:
            await reply.play_text(text)

        task = self._start_reply(body, TurnClock(), state=state, then_idle=then_idle)
        await asyncio.wait([task])
        return not task.cancelled()  # False: the caller (or an operator) cut it off

    async def end_call(self, reason: str) -> None:
        """Hang up once queued audio has played: Twilio REST when we have it, else close the
        media socket (which ends a <Connect><Stream> call too)."""
        if self.deps.actions is not None:
            try:
                # Bounded: closing the media socket ends a <Connect><Stream> call anyway, so a
                # hung Twilio may hold the (already silent) line open 1 s at most.
                await asyncio.wait_for(self.deps.actions.hang_up(self.sid), HANG_UP_REST_S)
            except Exception as error:  # noqa: BLE001 - any REST failure: close the socket instead
                self._degraded("twilio", f"hang-up failed: {error!r}", "closed media socket")
        await self._sender.close(reason)
        await self.on_stop(reason)

    # --- helpers ---------------------------------------------------------------------------------
    def _reply_in_flight(self) -> bool:
        return self._reply_task is not None and not self._reply_task.done()

    def _agent_audible(self) -> bool:
        return self._reply_in_flight() or self.pacer.is_playing()

    def _resting_state(self) -> str:
        """What the call is doing when the agent is not speaking."""
        if self.operator_mode:
            return "operator"
        return "transferring" if self.escalation is not None else "listening"

    def _speaking_reply(self) -> bool:
        """The agent is saying its reply (not just a holding phrase) right now."""
        reply = self.reply
        return reply is not None and bool(reply.spoken.segments) and self.pacer.is_playing()

    def reply_being_prepared(self) -> bool:
        """A reply is on its way but has produced no audio yet (the LLM or TTS is slow)."""
        return self._reply_in_flight() and self.reply is not None and not self.reply.spoken.segments

    def play_filler(self, text: str) -> None:
        """A holding phrase from audio prepared at start-up: never waits on a slow provider."""
        audio = self.deps.greetings.cached(self.profile.name, text)
        if audio is None:
            return
        first = self.pacer.frames_enqueued
        self.pacer.enqueue_audio(audio)
        self.pacer.end_segment()
        self._filler_frames = range(first, self.pacer.frames_enqueued)
        self._publish(ev.AgentSpoke, text=text)
        self._degraded("pipeline", "the caller waited in silence", f"holding phrase: {text}")

    def _last_role(self) -> str:
        return self.history[-1].role

    def _frame_sent(self, at: float, audio: bytes) -> None:
        self._tap("agent", audio)
        if self.pacer.frames_sent - 1 in self._filler_frames:
            return  # a holding phrase is not the reply: it must not count as its first frame
        if self.reply is not None:
            if not self.reply.clock.has("first_frame_sent") and self.state != "transferring":
                self._set_state("speaking")
            self.reply.clock.stamp("first_frame_sent", at)

    def add_tap(self, tap: AudioTap) -> Callable[[], None]:
        """Listen in: `tap(leg, mulaw)` gets every caller frame and every agent frame sent."""
        self._taps.append(tap)
        return lambda: self._taps.remove(tap) if tap in self._taps else None

    def _tap(self, leg: str, mulaw: bytes) -> None:
        for tap in self._taps:
            tap(leg, mulaw)

    def _sentence_queued(self, text: str) -> None:
        self._publish(ev.AgentSpoke, text=text)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._publish(ev.StateChanged, state=state)

    def _degraded(self, provider: str, problem: str, fallback: str) -> None:
        log.warning("call %s: %s degraded (%s) -> %s", self.sid, provider, problem, fallback)
        self._publish(ev.ProviderDegraded, provider=provider, problem=problem, fallback=fallback)

    def _publish(self, kind: Callable[..., ev.CallEvent], **fields: Any) -> None:
        self.deps.bus.publish(kind(self.sid, **fields))

    # --- ProviderObserver ------------------------------------------------------------------------
    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        self._degraded(provider, problem, fallback)

    def usage(self, *, llm_tokens: int = 0, tts_characters: int = 0,
              stt_seconds: float = 0.0) -> None:
        self._usage["llm_tokens"] += llm_tokens
        self._usage["tts_characters"] += tts_characters
        self._usage["stt_seconds"] += stt_seconds
