"""One phone call: the coordinator of its ear, voice, floor, operator desk and emergencies.

The session is a StreamHandler (console.streams): the server feeds it frames and it answers
through a MediaSender. It owns the parts and wires them; the turn-taking rules live in `floor`,
the call's mode in `call_state` (one `CallState`), and every part reaches the others only through
their public methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from console import events as ev
from console.calls.conversation import Conversation
from console.calls.deadair import DeadAirWatchdog
from console.calls.ear import Ear
from console.calls.floor import Floor, FloorOptions
from console.calls.gate import GateOptions, ReplyGate
from console.calls.idle import IdleLadder
from console.calls.operator import OperatorDesk
from console.calls.ports import (
    CallActions,
    CallEvents,
    GreetingSource,
    MemoryGreetings,
    WarmTransferPort,
    close_quietly,
)
from console.calls.presence import AgentPresence
from console.calls.reply import AgentReply
from console.calls.state import CallMode, CallState
from console.calls.tasks import TaskOwner
from console.calls.triage import Escalation, Triage
from console.calls.vad import VoiceActivity
from console.calls.voice import Voice
from console.profiles import Profile
from console.providers.base import LanguageModel, SpeechToText, TextToSpeech
from console.streams import MediaSender, StreamStart

log = logging.getLogger(__name__)

AudioTap = Callable[[str, bytes], None]  # (leg: "caller" | "agent", 20 ms of mu-law)


class UsageTotals(TypedDict):
    """What a call used so far (the fields of the UsageRecorded it ends with)."""

    llm_tokens: int
    tts_characters: int
    stt_seconds: float


@dataclass
class SessionOptions(FloorOptions):
    lead_s: float = 0.100
    """How far ahead of playout frames are sent."""
    emergency_numbers: tuple[str, ...] = ()
    """Where an emergency is transferred, in order (EMERGENCY_FALLBACK_NUMBER, then the second)."""
    gate: GateOptions = field(default_factory=GateOptions)
    """Approve-before-speak: the wait's holding lines and timeout policy (gate.py)."""


@dataclass
class CallDeps:
    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    profile: Profile
    bus: ev.EventBus
    actions: CallActions | None = None
    warm: WarmTransferPort | None = None  # issue 15: warm transfer (Twilio REST and a public URL)
    greetings: GreetingSource = field(default_factory=MemoryGreetings)
    options: SessionOptions = field(default_factory=SessionOptions)


class CallSession:
    def __init__(self, start: StreamStart, sender: MediaSender, deps: CallDeps) -> None:
        self.sid, self.start_info, self.deps = start.call_sid, start, deps
        self.profile, self.options = deps.profile, deps.options
        self.tasks = TaskOwner(f"call-{self.sid[-6:]}")
        self.events = CallEvents(deps.bus, self.sid)
        self.call_state = CallState(lambda mode: self.events(ev.StateChanged, state=str(mode)))
        self.conversation = Conversation(self.profile.system_prompt)
        self.triage = Triage(self, self.options.emergency_numbers)
        self.ear = Ear(deps.stt, backchannels=self.options.backchannel_words(),
                       on_dropped=self._audio_dropped)
        self.voice = Voice(sender, deps.tts, self, self.tasks, lead_s=self.options.lead_s,
                           gate=self.triage.agent_gate)
        self.gate = ReplyGate(self, self.options.gate)
        self.floor = Floor(self)
        self.operator = OperatorDesk(self)
        self.sender = sender
        self._taps: list[AudioTap] = []
        self._usage = UsageTotals(llm_tokens=0, tts_characters=0, stt_seconds=0.0)
        self.park_on_stop = False  # a warm transfer is moving the caller to hold

    # --- lifecycle -----------------------------------------------------------------------------
    async def begin(self) -> None:
        params = self.start_info.custom_parameters
        self.events(ev.CallStarted, stream_sid=self.start_info.stream_sid,
                    from_number=params.get("caller", ""), to_number=params.get("called", ""),
                    profile=self.profile.name)
        self.tasks.spawn("pacer", self.voice.pacer.run())
        self.tasks.spawn("listen", self.floor.listen())
        presence = AgentPresence(self)
        self.tasks.spawn("dead-air", DeadAirWatchdog(self.ear.vad, presence).run())
        self.tasks.spawn("idle", IdleLadder(self.ear.vad, presence, *self._idle_rules()).run())
        self.floor.greet()
        if prepare := getattr(self.deps.tts, "prepare", None):
            self.tasks.spawn("prepare-tts", prepare())  # e.g. open the TTS socket early

    def _idle_rules(self) -> tuple[tuple[float, float], tuple[str, str]]:
        o, p = self.options, self.profile
        return ((o.idle_reprompt_s or p.idle_reprompt_s, o.idle_hangup_s or p.idle_hangup_s),
                (p.reprompt, p.goodbye))

    async def on_stop(self, reason: str) -> None:
        if self.call_state.mode in (CallMode.ENDED, CallMode.ON_HOLD):
            return
        if self.park_on_stop and self.call_state.mode is CallMode.TRANSFERRING:
            await self._park()  # a warm transfer moved the caller to hold: the call goes on
            return
        self.call_state.transition(CallMode.ENDED)
        await self._let_go_of_stream()
        self._publish_end(reason)

    async def _let_go_of_stream(self) -> None:
        self.ear.close()
        await self.tasks.cancel_all(timeout_s=2.0)
        self.floor.close_turn_at_hang_up()
        await close_quietly(self.deps.tts)  # its speak socket and HTTP client belong to the call

    # --- warm transfer (issue 15, part 4) -----------------------------------------------------
    async def _park(self) -> None:
        """The stream ended because the caller is on hold for a warm transfer: the stream's parts
        stop, the conversation stays, and the call is neither ended nor forgotten."""
        self.call_state.transition(CallMode.ON_HOLD)
        await self._let_go_of_stream()
        self.events(ev.WarmTransferHolding)

    async def end_parked(self, reason: str) -> None:
        """A parked call is over for us (a person took it, or the caller left the hold)."""
        if self.call_state.mode is CallMode.ENDED:
            return
        held = self.call_state.mode is CallMode.ON_HOLD
        self.call_state.transition(CallMode.ENDED)
        if not held:  # the target answered before Twilio ended the caller's stream
            await self._let_go_of_stream()
        self._publish_end(reason)

    def continue_from(self, earlier: CallSession) -> None:
        """This stream is the caller coming back from a warm transfer nobody took: the agent
        goes on with what was said before (the conversation, whispers included)."""
        self.conversation = earlier.conversation
        self._usage = earlier.usage_totals  # one call, one bill: counted on from the first stream

    def resume(self, turns: Sequence[tuple[str, str]], unanswered: str, emergency: str) -> None:
        """This stream continues a call whose worker died (fleet failover): the agent goes on
        with what was said there, and an emergency under way there is transferred at once.
        Call after `begin`: the escalation speaks over the recovery line."""
        self.conversation.replay(turns, unanswered)
        if emergency:
            self.triage.resume(emergency, unanswered or emergency)

    @property
    def usage_totals(self) -> UsageTotals:
        """LLM tokens, TTS characters and STT seconds used so far (UsageRecorded at the end)."""
        return self._usage

    def _publish_end(self, reason: str) -> None:
        pacer = self.voice.pacer
        self.events(ev.UsageRecorded, **self._usage)
        self.events(ev.PlayoutMeasured, frames_sent=pacer.frames_sent,
                    late_frames=pacer.late_frames,
                    worst_lateness_ms=round(max(0.0, pacer.worst_lateness_s) * 1000, 1))
        self.events(ev.CallEnded, reason=reason)

    async def end_call(self, reason: str) -> None:
        """Hang up once queued audio has played: Twilio REST when we have it, else close the
        media socket (which ends a <Connect><Stream> call too)."""
        self.call_state.try_transition(CallMode.ENDING)
        await self.operator.hang_up_through_twilio()
        await self.sender.close(reason)
        await self.on_stop(reason)

    # --- inbound from the wire (synchronous: only hand data on) ----------------------------------
    def on_media(self, mulaw: bytes) -> None:
        self._tap("caller", mulaw)
        self.floor.caller_sound(self.ear.hear(mulaw, time.monotonic()))

    def on_dtmf(self, digit: str) -> None:
        self.events(ev.DtmfPressed, digit=digit)
        self.floor.key_pressed(digit)

    def on_mark(self, name: str) -> None:
        if (reply := self.voice.on_mark(name)) is not None:
            reply.clock.stamp("first_mark_played", time.monotonic())

    # --- what operators and the runtime call --------------------------------------------------
    @property
    def state(self) -> CallMode:
        return self.call_state.mode

    @property
    def operator_mode(self) -> bool:
        return self.call_state.mode is CallMode.OPERATOR

    @property
    def agent_muted(self) -> bool:
        return self.call_state.muted

    @property
    def listening_paused(self) -> bool:
        return self.call_state.listening_paused

    @property
    def escalation(self) -> Escalation | None:
        return self.triage.escalation

    async def interrupt(self, cause: str) -> None:
        await self.floor.silence_agent(cause)

    async def speak_line(self, text: str, *, role: str = "agent") -> bool:
        return await self.floor.speak_line(text, role=role)

    def dial_finished(self, outcome: str) -> str | None:
        """Twilio's <Dial action> outcome for a transfer; returns the next number to try."""
        return self.triage.dial_finished(outcome)

    def add_tap(self, tap: AudioTap) -> Callable[[], None]:
        """Listen in: `tap(leg, mulaw)` gets every caller frame and every agent frame sent."""
        self._taps.append(tap)
        return lambda: self._taps.remove(tap) if tap in self._taps else None

    def caller_voice(self) -> VoiceActivity:
        return self.ear.vad

    def _audio_dropped(self, frames: int) -> None:
        log.warning("call %s: recognizer fell behind; dropped the oldest %d frames (%.1f s)",
                    self.sid, frames, frames * 0.02)
        self.events(ev.AudioDropped, where="ear", frames=frames)

    def _tap(self, leg: str, mulaw: bytes) -> None:
        for tap in self._taps:
            tap(leg, mulaw)

    # --- VoiceHooks --------------------------------------------------------------------------
    def sentence_queued(self, text: str) -> None:
        self.events(ev.AgentSpoke, text=text)

    def tts_failed(self, problem: str) -> None:
        self.events.degraded("tts", problem, "skipped")

    def agent_frame(self, at: float, mulaw: bytes, reply: AgentReply | None) -> None:
        self._tap("agent", mulaw)
        if reply is not None:
            self.floor.reply_heard(reply, at)

    # --- ProviderObserver ------------------------------------------------------------------------
    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        self.events.degraded(provider, problem, fallback)

    def usage(self, *, llm_tokens: int = 0, tts_characters: int = 0,
              stt_seconds: float = 0.0) -> None:
        self._usage["llm_tokens"] += llm_tokens
        self._usage["tts_characters"] += tts_characters
        self._usage["stt_seconds"] += stt_seconds
