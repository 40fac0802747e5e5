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
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from console import events as ev
from console.calls.conversation import Conversation
from console.calls.ear import Ear, Heard
from console.calls.metrics import TurnClock
from console.calls.ports import CallEvents
from console.calls.reply import AgentReply
from console.calls.state import (
    AGENT_TURN,
    PAUSABLE,
    SPEAKS_ON_FIRST_FRAME,
    CallMode,
    CallState,
)
from console.calls.tasks import TaskOwner
from console.calls.triage import Triage
from console.calls.turns import DEFAULT_BACKCHANNELS, CallerTurn
from console.calls.voice import ReplyBody, Voice
from console.providers.base import ProviderError

M = CallMode
VERDICT_TICK_S = 0.01  # the shortest look at a held reply's caller
# Quiet this long and the caller's sound is over, for judging it: longer than the closure of a
# stop consonant or the dip inside "m-hm" (40 ms in our recordings), shorter than the voice
# activity's 200 ms hangover, because every millisecond here is silence inside the agent's reply.
VERDICT_QUIET_S = 0.12
SPEECH_STARTED_LAG_S = 0.25  # Deepgram's SpeechStarted trails the voice by 100-200 ms
# A recognizer that took the sound for speech always closes it (a final, even an empty one, or
# an utterance end); one that has not after this much quiet is not going to.
RECOGNIZER_LOST_S = 3.0


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

    def backchannel_words(self) -> frozenset[str]:
        return frozenset(w.lower() for w in self.backchannels) or DEFAULT_BACKCHANNELS


class FloorHost(Protocol):
    call_state: CallState
    ear: Ear
    voice: Voice
    conversation: Conversation
    events: CallEvents
    triage: Triage
    tasks: TaskOwner
    deps: Any
    profile: Any
    options: FloorOptions

    async def end_call(self, reason: str) -> None: ...


@dataclass
class _Hold:
    """The reply waits for the caller. `heard`: some of it had been heard (the call is paused);
    otherwise it was still being prepared, or the caller was talking when it began."""

    heard: bool
    reply: AgentReply | None
    started: float = field(default_factory=time.monotonic)
    recognizing: bool = False  # the recognizer heard speech start and has not closed it yet
    closed: bool = False  # the recognizer finished the caller's sound
    finalized: bool = False  # we asked the recognizer to finish it (the caller went quiet)
    words: bool = False  # ...and it had words: their turn will replace this reply
    said: str = ""  # a backchannel heard meanwhile
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # the recognizer said more


class Floor:
    def __init__(self, host: FloorHost) -> None:
        self._host = host
        self._state = host.call_state
        self._voice = host.voice
        self._lock = asyncio.Lock()  # one decision at a time: pause, resume, answer, stop
        self._hold: _Hold | None = None
        self._turn_no = 0
        self._reply_started_wall = 0.0

    # --- the caller's voice ------------------------------------------------------------------
    def caller_started(self) -> None:
        """Our voice activity heard the caller begin: pause whatever the agent is saying."""
        if self._voice.in_flight() or self._voice.audible():
            self._host.tasks.spawn("pause", self._pause_for_caller())

    async def listen(self) -> None:
        host = self._host
        try:
            async for heard in host.ear.listen():
                await self._heard(heard)
        except ProviderError as error:
            host.events.degraded("stt", str(error), "operator")
            await self.speak_line(host.profile.apology)

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
        hold = self._hold
        if hold is not None and heard.meaningful and self._state.mode is M.PAUSED:
            await self._stop_reply("caller-words")
        elif hold is not None:
            hold.words = hold.words or heard.meaningful
            hold.recognizing = heard.speech_started or (hold.recognizing and not heard.closed)
            hold.closed = heard.closed or (hold.closed and not heard.speech_started)
            hold.finalized = hold.finalized and not heard.speech_started
            hold.said = heard.event.text if heard.words else hold.said
            hold.changed.set()
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
                return  # "mhm" over the agent: recorded, not answered
            if self._voice.audible() and not self._spoke_over(self._last_voiced()):
                return  # a late final of words said before the agent spoke: not a new turn
            if self._state.agent_may_answer:
                await self._answer(turn.text, spoken_until=min(self._last_voiced(), turn.final_at),
                                   heard_at=turn.final_at)

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
        mode = self._state.mode
        if mode is M.TRANSFERRING and self._voice.audible():
            await self._voice.cancel()  # someone in distress is talking: listen, say it later
        elif self._hold is not None:
            self._hold.closed = self._hold.finalized = False  # a new sound: judge it too
        elif mode in PAUSABLE and self._voice.reply is not None:
            self._wait_for_caller(heard=await self._voice.hold())

    def _wait_for_caller(self, *, heard: bool) -> None:
        self._hold = _Hold(heard, self._voice.reply)
        if heard:
            self._state.transition(M.PAUSED)
        self._host.tasks.spawn("verdict", self._await_verdict(self._hold))

    async def _await_verdict(self, hold: _Hold) -> None:
        """Release once the caller's sound is over and had no words. Words end the hold
        elsewhere (their turn replaces the reply)."""
        vad = self._host.ear.vad
        while self._hold is hold:
            quiet = time.monotonic() - vad.last_voiced
            if self._sound_was_nothing(hold, quiet):
                await self._release(hold)
                return
            if quiet >= VERDICT_QUIET_S and not (hold.closed or hold.finalized):
                hold.finalized = True  # the words (or none) now, not at the endpoint
                self._host.ear.finalize()
            await self._until_news(hold, self._next_look_s(hold, quiet))

    @staticmethod
    async def _until_news(hold: _Hold, timeout_s: float) -> None:
        """Until the recognizer says more, or the next moment the silence could decide it."""
        hold.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hold.changed.wait(), timeout=timeout_s)

    def _next_look_s(self, hold: _Hold, quiet: float) -> float:
        """When the caller's silence next crosses a line that matters (a caller who is still
        talking moves it on; the look then only finds that out)."""
        lines = (VERDICT_QUIET_S, self._host.options.barge_in_window_s, RECOGNIZER_LOST_S)
        return max(VERDICT_TICK_S, min((line - quiet for line in lines if line > quiet),
                                       default=RECOGNIZER_LOST_S))

    def _sound_was_nothing(self, hold: _Hold, quiet: float) -> bool:
        """The recognizer closed the sound with no words; or it never took it for speech and
        the caller stayed quiet for the window; or it said nothing for far too long."""
        if quiet < VERDICT_QUIET_S or hold.words:
            return False
        if not hold.recognizing:
            return hold.closed or quiet >= self._host.options.barge_in_window_s
        return quiet >= RECOGNIZER_LOST_S

    async def _release(self, hold: _Hold) -> None:
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
        self._hold = None
        reply, heard = await self._voice.cancel()
        if reply is not None and reply.spoken.segments:
            self._host.events(ev.AgentInterrupted, heard=heard, cause=cause)
            self._close_turn(reply, heard, interrupted=True)
        if self._state.mode in AGENT_TURN:
            self._state.transition(M.LISTENING)

    async def _answer(self, text: str, *, spoken_until: float, heard_at: float,
                      cause: str = "caller-words") -> None:
        if self._voice.audible() or self._state.mode is M.PAUSED:
            await self._stop_reply(cause)
        elif self._voice.in_flight():
            self._hold = None
            await self._voice.cancel()  # none of it was heard: the new words join its turn
        clock = TurnClock()
        clock.stamp("speech_end", spoken_until)
        clock.stamp("stt_final", heard_at)
        self._host.conversation.caller_said(text)
        self._start(self._respond, clock, held=self._host.ear.vad.talking())
        self._state.transition(M.THINKING)

    async def speak_line(self, text: str, *, role: str = "agent") -> bool:
        """Say a fixed line (reprompt, apology, goodbye, an operator's words); return once it
        has played. False: the caller (or an operator) cut it off."""
        async with self._lock:
            if self._voice.in_flight() or self._voice.audible():
                await self._stop_reply("operator")

            async def body(reply: AgentReply) -> None:
                await reply.play_text(text)

            task = self._start(body, TurnClock(), held=False, role=role)
        await asyncio.wait([task])
        return not task.cancelled()

    def greet(self) -> None:
        self._start(self._greet, TurnClock(), held=False)

    def _start(self, body: ReplyBody, clock: TurnClock, *, held: bool,
               role: str = "agent") -> asyncio.Task[None]:
        self._turn_no += 1
        self._reply_started_wall = time.time()
        self._host.triage.reply_started()
        self._hold = None
        task = self._voice.start(body, clock, held=held,
                                 on_played=lambda reply: self._played(reply, role))
        if held:
            self._wait_for_caller(heard=False)
        return task

    async def _respond(self, reply: AgentReply) -> None:
        host = self._host
        if host.call_state.muted:
            return
        reply.clock.stamp("llm_request", time.monotonic())
        try:
            await reply.play_tokens(self._tokens())
        except ProviderError as error:
            host.events.degraded("llm", str(error), "apology")
            await reply.play_text(host.profile.apology)

    async def _tokens(self) -> Any:
        messages = self._host.conversation.for_llm()
        async for token in self._host.deps.llm.reply(messages, observer=self._host):
            yield token

    async def _greet(self, reply: AgentReply) -> None:
        profile = self._host.profile
        audio = self._host.deps.greetings.cached(profile.name, profile.greeting)
        if audio is not None:
            reply.play_audio(profile.greeting, audio)
        else:
            await reply.play_text(profile.greeting)

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
        if reply is not None:
            playing = self._voice.pacer.is_playing()
            text = reply.heard_text(self._voice.pacer.frames_played())
            self._close_turn(reply, text if playing else reply.spoken.full_text(),
                             interrupted=playing)

    def _close_turn(self, reply: AgentReply, text: str, *, interrupted: bool,
                    role: str = "agent") -> None:
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

    def agent_has_call(self) -> bool:
        """The agent answers this call (no person, no transfer, not silenced)."""
        return self._state.agent_may_answer

    def agent_busy(self) -> bool:
        return self._voice.in_flight() or self._voice.audible()

    def agent_quiet_since(self) -> float:
        return self._voice.pacer.playout_end

    def reply_being_prepared(self) -> bool:
        return self._voice.preparing()

    def play_filler(self, text: str) -> None:
        host = self._host
        audio = host.deps.greetings.cached(host.profile.name, text)
        if audio is None:
            return
        self._voice.play_filler(audio)
        host.events(ev.AgentSpoke, text=text)
        host.events.degraded("pipeline", "the caller waited in silence", f"holding phrase: {text}")

    async def idle_line(self, text: str, *, hang_up: bool = False) -> bool:
        """The idle ladder's reprompt or goodbye; the goodbye ends the call once played."""
        played = await self.speak_line(text)
        if played and hang_up:
            await self._host.end_call("idle")
        return played
