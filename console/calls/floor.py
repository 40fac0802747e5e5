"""The floor: who speaks when. Every turn-taking rule of a call, in one place.

- The caller starts talking over the agent (our voice activity, or the recognizer's
  SpeechStarted, whichever comes first): pause at once. Twilio's buffer is cleared, the reply is
  held, LLM and TTS keep going.
- Then decide. Words that are more than a backchannel (one-word commands included) interrupt: the
  reply is cancelled, cut to what was heard, and the caller's turn is answered. A backchannel, or
  no words once the caller is quiet again, resumes the reply from the sentence that was cut.
- At most one reply is in flight. A new caller turn, a key press or an operator's line first
  stops the reply before it (silently if none of it was heard yet, and then the caller's words
  join the same turn).
- A reply is never released while the caller is talking: it waits until they are quiet.
- A caller's turn is answered before we are sure it is over: when their sound ends we ask the
  recognizer for the words (Finalize) and prepare the reply, held. It is heard once the release
  rule (release.py) is met, its audio exists and the caller is still quiet; if they go on, it is
  dropped unheard and their words join the turn (a speculation, holds.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from console import events as ev
from console.calls import lines
from console.calls.conversation import Conversation
from console.calls.deaf import carry_on_deaf
from console.calls.ear import Ear, Heard, VoiceChange
from console.calls.gate import ReplyGate
from console.calls.holds import (
    RECOGNIZER_LOST_S,
    SPEECH_STARTED_LAG_S,
    VERDICT_QUIET_S,
    Hold,
    Speculation,
    caller_went_on,
    next_line_s,
    release_for,
    sound_over,
    sound_was_nothing,
    until_news,
)
from console.calls.metrics import TurnClock
from console.calls.ports import CallEvents, CallServices
from console.calls.release import Release, ReleaseRule
from console.calls.reply import AgentReply
from console.calls.state import AGENT_TURN, PAUSABLE, SPEAKS_ON_FIRST_FRAME, CallMode, CallState
from console.calls.tasks import TaskOwner
from console.calls.triage import Triage
from console.calls.turns import DEFAULT_BACKCHANNELS, CallerTurn
from console.calls.vad import VoiceActivity
from console.calls.voice import ReplyBody, Voice
from console.profiles import Profile
from console.providers.base import ProviderError

M = CallMode


@dataclass
class FloorOptions:
    barge_in_window_s: float = 0.8
    """Paused for the caller: quiet this long with no words (and no word from the recognizer
    that the sound is over) and the reply resumes. Deepgram endpoints 300 ms after the sound,
    the local recognizer about 600 ms (360 ms gate and a decode); the window covers both."""
    backchannels: tuple[str, ...] = ()
    """Words that never interrupt and are never answered when said over the agent (empty:
    the built-in list: mhm, yeah, okay, right...)."""
    idle_reprompt_s: float | None = None
    """Seconds of caller silence after the agent finished before a reprompt (None: profile's)."""
    idle_hangup_s: float | None = None
    """Further silence after the reprompt before goodbye and hang-up (None: profile's)."""
    unfinished_hold_s: float = 1.2
    """Caller quiet before a reply to words that sound unfinished ("...a table for") is heard."""
    narrating_hold_s: float = 0.8
    """Caller quiet between the sentences of a caller telling something at length."""
    prosody_cue: bool = True
    """Listen to how the caller's voice ended: a finished statement whose voice ends level waits
    `level_hold_s` (prosody.py; the setting's docstring in console/config/groups.py says why)."""
    level_hold_s: float = 0.7
    """Caller quiet before a reply to a finished statement whose voice ended level."""

    def release_rule(self) -> ReleaseRule:
        level = self.level_hold_s if self.prosody_cue else 0.0
        return ReleaseRule(self.unfinished_hold_s, self.narrating_hold_s, level)

    def backchannel_words(self) -> frozenset[str]:
        return frozenset(w.lower() for w in self.backchannels) or DEFAULT_BACKCHANNELS


class FloorHost(Protocol):
    sid: str
    call_state: CallState
    ear: Ear
    voice: Voice
    conversation: Conversation
    events: CallEvents
    triage: Triage
    gate: ReplyGate
    tasks: TaskOwner
    profile: Profile

    @property
    def deps(self) -> CallServices: ...

    @property
    def options(self) -> FloorOptions: ...  # read-only: the session's are SessionOptions

    async def end_call(self, reason: str) -> None: ...

    async def speak_line(self, text: str, *, role: str = "agent") -> bool: ...

    def caller_voice(self) -> VoiceActivity: ...


class Floor:
    def __init__(self, host: FloorHost) -> None:
        self._host = host
        self._state = host.call_state
        self._voice = host.voice
        self._lock = asyncio.Lock()  # one decision at a time: pause, resume, answer, stop
        self._hold: Hold | None = None
        self._turn_no = 0
        self._reply_started_wall = 0.0
        self._answering: Speculation | None = None  # the caller's turn the reply in flight answers
        self._dropped_unanswered = False  # a speculation was dropped: its words wait in the turn
        # Silences this caller went on talking after (the release rule's measure of them).
        self._resumed_pauses: deque[float] = deque(maxlen=5)

    # --- the caller's voice ------------------------------------------------------------------
    def caller_sound(self, change: VoiceChange | None) -> None:
        """Our voice activity heard the caller begin: pause whatever the agent is saying. Their
        sound ended: ask the recognizer for its words now rather than at its endpoint
        (Deepgram's Finalize), so a reply can be prepared while we make sure. Not for a
        recognizer that ends turns itself, nor during a barge-in (its verdict asks)."""
        hold = self._hold
        if change is VoiceChange.STARTED and self._state.listening_paused:
            return  # a muted caller never barges in (OperatorDesk.pause_listening says why)
        if change is VoiceChange.STARTED and (self._voice.in_flight() or self._voice.audible()):
            self._host.tasks.spawn("pause", self._pause_for_caller())
        elif change is VoiceChange.ENDED and not self._host.ear.detects_turns and not (
                hold is not None and hold.heard):
            self._host.ear.finalize()

    async def listen(self) -> None:
        host = self._host
        try:
            async for heard in host.ear.listen():
                await self._heard(heard)
        except ProviderError as error:
            await carry_on_deaf(host, str(error))  # for the rest of the call

    async def _heard(self, heard: Heard) -> None:
        event = heard.event
        if heard.words:
            self._host.events(ev.CallerTranscribed, text=event.text, final=event.kind == "final")
            self._host.triage.check_caller(event.text)
        async with self._lock:
            await self._decide(heard)
        if heard.turn is not None:
            await self._turn_ended(heard.turn)

    async def _decide(self, heard: Heard) -> None:
        hold, muted = self._hold, self._state.listening_paused  # muted: words never interrupt
        if hold is not None and heard.meaningful and self._state.mode is M.PAUSED and not muted:
            await self._stop_reply("caller-words")
        elif isinstance(hold, Speculation) and not muted and caller_went_on(hold, heard):
            await self._drop_speculation(hold, "discarded")
        elif hold is not None:
            hold.words = hold.words or (heard.meaningful and not muted)
            hold.recognizing = heard.speech_started or (hold.recognizing and not heard.closed)
            hold.closed = heard.closed or (hold.closed and not heard.speech_started)
            hold.finalized = hold.finalized and not heard.speech_started
            hold.said = heard.event.text if heard.words else hold.said
            hold.changed.set()
        elif muted:
            return
        elif heard.speech_started and self._spoke_over(heard.event.at - SPEECH_STARTED_LAG_S):
            await self._pause_now()
        elif heard.meaningful and self._voice.audible() and self._spoke_over(self._last_voiced()):
            await self._stop_reply("caller-words")  # words our voice activity did not hear

    async def _turn_ended(self, turn: CallerTurn) -> None:
        wall = time.time()
        self._host.events(ev.TurnCompleted, role="caller", text=turn.text,
                          started=wall - (time.monotonic() - turn.started), ended=wall)
        self._host.triage.caller_turn_ended()
        async with self._lock:
            if self._voice.in_flight() and self._host.ear.is_backchannel(turn.text):
                return  # "mhm" over the agent (or while we make sure): recorded, not answered
            if self._voice.audible() and not self._spoke_over(self._last_voiced()):
                return  # a late final of words said before the agent spoke: not a new turn
            if self._confirms(turn) or not self._state.agent_may_answer:
                return
            await self._answer(turn.text, spoken_until=min(self._last_voiced(), turn.final_at),
                               heard_at=turn.final_at, turn=turn)

    def _confirms(self, turn: CallerTurn) -> bool:
        """The recognizer confirmed the tentative turn end a reply is being prepared for (or
        said it again): nothing new to answer."""
        spec = self._hold
        if not isinstance(spec, Speculation) or turn.text != spec.turn_text:
            return False
        if not turn.tentative:  # (a tentative one again: a replay after a reconnect)
            spec.settled = True
            spec.changed.set()
        return True

    def key_pressed(self, digit: str) -> None:
        """A DTMF key is a caller turn: it interrupts the agent and is answered as text."""
        if self._state.agent_may_answer:
            self._host.tasks.spawn(f"dtmf-{digit}", self._answer_key(digit))

    async def _answer_key(self, digit: str) -> None:
        now = time.monotonic()
        async with self._lock:
            await self._answer(f"(the caller pressed {digit})", spoken_until=now, heard_at=now,
                               cause="dtmf")

    # --- holding the reply for the caller -----------------------------------------------------
    async def _pause_for_caller(self) -> None:
        async with self._lock:
            await self._pause_now()

    async def _pause_now(self) -> None:
        mode, hold, now = self._state.mode, self._hold, time.monotonic()
        if mode is M.TRANSFERRING and self._voice.audible():
            await self._voice.cancel()  # someone in distress is talking: listen, say it later
        elif hold is not None:
            hold.closed = hold.finalized = False  # a new sound: judge it too
            hold.sound_at = now
            hold.changed.set()
        elif mode in PAUSABLE and self._voice.reply is not None:
            if await self._voice.hold():
                self._hold = Hold(True, self._voice.reply)
                self._state.transition(M.PAUSED)
                self._host.tasks.spawn("verdict", self._await_verdict(self._hold))
            else:  # none of it heard yet: it waits, as it would have had they not paused
                self._speculate(self._held_again(now))

    def _held_again(self, sound_at: float) -> Speculation:
        """The reply in flight, released but not heard yet, waits again for the caller."""
        turn = self._answering or Speculation(False, None)
        return Speculation(False, self._voice.reply, sound_at=sound_at, text=turn.text,
                           speech_end=turn.speech_end, ending=turn.ending,
                           ending_known=turn.ending_known)

    async def _await_verdict(self, hold: Hold) -> None:
        """Release once the caller's sound is over and had no words. Words end the hold
        elsewhere (their turn replaces the reply)."""
        vad = self._host.ear.vad
        while self._hold is hold:
            quiet = time.monotonic() - vad.last_voiced
            if sound_was_nothing(hold, quiet, self._host.options.barge_in_window_s):
                await self._release(hold)
                return
            if quiet >= VERDICT_QUIET_S and not (hold.closed or hold.finalized):
                hold.finalized = True  # the words (or none) now, not at the endpoint
                self._host.ear.finalize()
            await until_news(hold, next_line_s(self._lines(), quiet))

    def _lines(self) -> list[float]:
        return [VERDICT_QUIET_S, self._host.options.barge_in_window_s, RECOGNIZER_LOST_S]

    # --- answering before we are sure: speculation ---------------------------------------------
    def _speculate(self, spec: Speculation) -> None:
        self._hold = spec
        self._host.tasks.spawn("release", self._await_release(spec))

    async def _await_release(self, spec: Speculation) -> None:
        """Let the caller hear the prepared reply once the turn is surely over. The caller going
        on with words ends it elsewhere (`_decide`); a cough or a "mhm" only delays it."""
        vad, options, reply = self._host.ear.vad, self._host.options, spec.reply
        if reply is not None:  # judged again the moment its audio exists: the caller may be
            reply.on_first_audio = spec.changed.set  # talking again by then
        while self._hold is spec and reply is self._voice.reply:
            quiet = time.monotonic() - vad.last_voiced
            release = release_for(spec, tuple(self._resumed_pauses), options.release_rule())
            ready = reply is not None and reply.has_audio
            if (ready and spec.settled and spec.ending_known and not vad.talking()
                    and quiet >= release.after_quiet_s
                    and sound_over(spec, quiet, options.barge_in_window_s)):
                await self._release_speculation(spec, release)
                return
            lines = [release.after_quiet_s, vad.settings.hangover_s]
            lines += [] if spec.sound_at is None else self._lines()
            await until_news(spec, next_line_s(lines, quiet))
        if self._hold is spec:  # the reply ended unheard (nothing to say: muted, no audio)
            self._hold = None

    async def _release_speculation(self, spec: Speculation, release: Release) -> None:
        async with self._lock:
            if self._hold is not spec or self._voice.reply is not spec.reply:
                return
            self._hold = None
            self._voice.release()
            self._settled(spec, "used", release.reason)

    async def _drop_speculation(self, spec: Speculation, outcome: str) -> None:
        """Silently: the caller never heard it. Their words stay in the conversation and
        join the turn that goes on."""
        self._hold = None
        await self._voice.cancel()
        self._settled(spec, outcome)
        self._dropped_unanswered = True
        if outcome != "cancelled" and spec.sound_at is not None and spec.speech_end:
            self._resumed_pauses.append(spec.sound_at - spec.speech_end)
        if self._state.mode in AGENT_TURN:
            self._state.transition(M.LISTENING)

    def _settled(self, spec: Speculation, outcome: str, rule: str = "") -> None:
        held_ms = round((time.monotonic() - spec.started) * 1000, 1)
        self._host.events(ev.SpeculationSettled, text=spec.text, outcome=outcome,
                          held_ms=held_ms, rule=rule)

    async def _release(self, hold: Hold) -> None:
        async with self._lock:
            if self._hold is not hold or self._voice.reply is not hold.reply:
                return
            self._hold = None
            self._voice.release()
            if hold.heard and self._state.try_transition(M.SPEAKING):
                self._host.events(ev.AgentResumed, backchannel=hold.said,
                                  paused_ms=round((time.monotonic() - hold.started) * 1000, 1))

    # --- stopping and starting replies -------------------------------------------------------
    async def silence_agent(self, cause: str) -> None:
        """Stop the agent now (operator, emergency): the reply is cut to what was heard."""
        async with self._lock:
            await self._stop_reply(cause)

    async def _stop_reply(self, cause: str) -> None:
        if isinstance(self._hold, Speculation):
            await self._drop_speculation(self._hold, "cancelled")  # never heard
            return
        self._hold = None
        reply, heard = await self._voice.cancel()
        if reply is not None and reply.spoken.segments:
            self._host.events(ev.AgentInterrupted, heard=heard, cause=cause)
            self._close_turn(reply, heard, interrupted=True)
        if self._state.mode in AGENT_TURN:
            self._state.transition(M.LISTENING)

    async def _answer(self, text: str, *, spoken_until: float, heard_at: float,
                      cause: str = "caller-words", turn: CallerTurn | None = None) -> None:
        """Prepare the reply to a caller turn; it is heard once the turn is surely over."""
        if isinstance(self._hold, Speculation):
            await self._drop_speculation(self._hold, "restarted")  # the turn's words changed
        elif self._voice.audible() or self._state.mode is M.PAUSED:
            await self._stop_reply(cause)
        elif self._voice.in_flight():
            self._hold = None
            await self._voice.cancel()  # none of it was heard: the new words join its turn
        restated = turn is not None and turn.whole_turn and self._dropped_unanswered
        merged = self._host.conversation.caller_said(text, restated=restated)
        self._dropped_unanswered = False
        clock = TurnClock()
        clock.stamp("speech_end", spoken_until)
        clock.stamp("stt_final", heard_at)
        measured = turn is not None and self._host.options.prosody_cue  # not a key press
        spec = Speculation(False, None, text=merged, turn_text=text, speech_end=spoken_until,
                           settled=turn is None or not turn.tentative, at_once=turn is None,
                           ending_known=not measured)
        self._start(self._host.gate.answer(merged), clock, speculation=spec)  # gated, or not
        if measured:  # while the reply is prepared: it is needed only to release it
            self._host.tasks.spawn("voice ending", self._hear_ending(spec))
        self._state.transition(M.THINKING)

    async def _hear_ending(self, spec: Speculation) -> None:
        try:
            spec.ending = await self._host.ear.voice_ending()
        finally:  # a measure that failed holds nothing: the reply is never kept from the caller
            spec.ending_known = True
            spec.changed.set()

    async def speak_line(self, text: str, *, role: str = "agent") -> bool:
        """Say a fixed line (reprompt, apology, goodbye, an operator's words); return once it
        has played. False: the caller (or an operator) cut it off."""
        async with self._lock:
            if self._voice.in_flight() or self._voice.audible():
                await self._stop_reply("operator")

            task = self._start(lines.fixed_line(self._host, text), TurnClock(), role=role)
        await asyncio.wait([task])
        return not task.cancelled()

    def greet(self) -> None:
        self._start(lines.fixed_line(self._host, self._host.profile.greeting), TurnClock())

    def _start(self, body: ReplyBody, clock: TurnClock, *, role: str = "agent",
               speculation: Speculation | None = None) -> asyncio.Task[None]:
        """Start a reply: heard at once, or (a speculation) once it is released."""
        self._turn_no += 1
        self._reply_started_wall = time.time()
        self._host.triage.reply_started()
        self._hold = None
        self._answering = speculation
        task = self._voice.start(body, clock, held=speculation is not None,
                                 on_played=lambda reply: self._played(reply, role))
        if speculation is not None:
            speculation.reply = self._voice.reply
            self._speculate(speculation)
        return task

    # --- what the caller heard -----------------------------------------------------------------
    def reply_heard(self, reply: AgentReply, at: float) -> None:
        """A frame of `reply` went out: the agent is speaking (the first frame is a latency)."""
        reply.clock.stamp("first_frame_sent", at)
        if self._state.mode in SPEAKS_ON_FIRST_FRAME:
            self._state.transition(M.SPEAKING)

    def _played(self, reply: AgentReply, role: str) -> None:
        self._close_turn(reply, reply.spoken.full_text(), interrupted=False, role=role)
        if self._state.mode in AGENT_TURN:
            self._state.transition(M.LISTENING)

    def close_turn_at_hang_up(self) -> None:
        """The call ended: whatever the agent was saying counts as far as it was heard."""
        reply = self._voice.reply
        if reply is not None and reply.held:  # paused, or prepared and never heard
            if heard := reply.heard_text(0):
                self._close_turn(reply, heard, interrupted=True)
        elif reply is not None:
            playing = self._voice.pacer.is_playing()
            text = reply.heard_text(self._voice.pacer.frames_played())
            self._close_turn(reply, text if playing else reply.spoken.full_text(),
                             interrupted=playing)

    def _close_turn(
        self, reply: AgentReply, text: str, *, interrupted: bool, role: str = "agent"
    ) -> None:
        if not reply.spoken.segments:
            return
        self._host.conversation.agent_said(text)
        self._host.events(ev.TurnCompleted, role=role, text=text, interrupted=interrupted,
                          started=self._reply_started_wall, ended=time.time())
        self._host.events(ev.TurnMeasured, turn=self._turn_no, stages=reply.clock.report())

    # --- what the other parts ask ----------------------------------------------------------------
    def _spoke_over(self, at: float) -> bool:
        """Only sound after the reply began can interrupt it: a late transcript of words said
        before (a slow recognizer, a local decode) is an answer, not a barge-in."""
        reply = self._voice.reply
        return reply is None or at >= reply.started_at

    def _last_voiced(self) -> float:
        return self._host.ear.vad.last_voiced
