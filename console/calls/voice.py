"""The voice: the pacer and the life of the agent's one reply in flight.

Start a reply, hold it while the caller talks (clear Twilio's buffer, keep the audio), release it
from the sentence that was cut, cancel it, wait until the caller has heard it. There is never
more than one reply: `start()` refuses while another is in flight, so whoever starts one must
first cancel or finish the last. Holding phrases bypass the reply (prepared audio, straight to
the pacer) and never count as its first frame.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from console.calls.metrics import TurnClock
from console.calls.pacing import Pacer
from console.calls.reply import AgentReply, TokenGate
from console.calls.tasks import TaskOwner, cancel_and_wait
from console.providers.base import TextToSpeech
from console.streams import MediaSender

ReplyBody = Callable[[AgentReply], Awaitable[None]]
MARK_GRACE_S = 1.0  # a mark that never comes back: our playout clock decides this much later


class VoiceHooks(Protocol):
    def sentence_queued(self, text: str) -> None: ...

    def tts_failed(self, problem: str) -> None: ...

    def agent_frame(self, at: float, mulaw: bytes, reply: AgentReply | None) -> None:
        """A frame went out; `reply` is the reply it belongs to (None: a holding phrase)."""
        ...


class ReplyInFlight(RuntimeError):
    """`start()` while another reply is in flight: at most one may ever be."""


class Voice:
    def __init__(self, sender: MediaSender, tts: TextToSpeech, hooks: VoiceHooks,
                 tasks: TaskOwner, *, lead_s: float, gate: TokenGate) -> None:
        self.pacer = Pacer(sender, lead_s=lead_s)
        self.pacer.on_frame_sent = self._frame_sent
        self._tts = tts
        self._hooks = hooks
        self._tasks = tasks
        self._gate = gate
        self.reply: AgentReply | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._filler_frames = range(0)
        self._count = 0

    # --- the reply's life --------------------------------------------------------------------
    def start(self, body: ReplyBody, clock: TurnClock, *, held: bool,
              on_played: Callable[[AgentReply], None]) -> asyncio.Task[None]:
        if self.in_flight():
            raise ReplyInFlight("cancel or finish the reply in flight first")
        self._count += 1
        reply = AgentReply(tts=self._tts, pacer=self.pacer, clock=clock, gate=self._gate,
                           on_sentence=self._hooks.sentence_queued,
                           on_tts_error=self._hooks.tts_failed, held=held)
        self.reply = reply
        self._task = self._tasks.spawn(f"reply-{self._count}", self._run(body, reply, on_played))
        return self._task

    async def _run(self, body: ReplyBody, reply: AgentReply,
                   on_played: Callable[[AgentReply], None]) -> None:
        await body(reply)
        reply.fully_queued = True
        self._changed.set()
        await self.until_played(reply)
        self.reply = None
        on_played(reply)

    async def hold(self) -> bool:
        """The caller spoke over the agent: drop what is queued at Twilio, keep the audio.
        True when there was something audible to hold."""
        reply = self.reply
        if reply is None or reply.held:
            return False
        audible = reply.audible and self.pacer.is_playing()
        played = self.pacer.frames_played()  # before the clear, which ends the playout clock
        if audible:
            await self.pacer.clear()
        reply.hold(played)
        self._changed.set()
        return audible

    def release(self) -> None:
        """Play the held reply from the first sentence the caller did not hear in full."""
        if self.reply is not None:
            self.reply.release()
            self._changed.set()

    async def cancel(self) -> tuple[AgentReply | None, str]:
        """Stop the reply for good: clear Twilio, cancel LLM and TTS. Returns it with what the
        caller heard of it (cut at the word)."""
        reply, task = self.reply, self._task
        heard = reply.heard_text(self.pacer.frames_played()) if reply else ""
        if task is not None:
            task.cancel()
        self.reply = None
        if self.pacer.is_playing():
            await self.pacer.clear()
        await cancel_and_wait(task)
        return reply, heard

    async def until_played(self, reply: AgentReply) -> None:
        """Marks say when Twilio played the audio; our playout clock is the backstop in case a
        mark never comes back. A held reply is not played: this waits for its release."""
        while not (reply.fully_queued and reply.spoken.all_played) and reply.spoken.segments:
            self._changed.clear()
            wait = 0.5 if reply.held else self._backstop_s()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=wait)
            except TimeoutError:
                if reply.fully_queued and not reply.held and not self.pacer.is_playing():
                    return

    async def until_quiet(self) -> None:
        """Everything sent so far has played (a hang-up waits for the goodbye)."""
        while self.pacer.is_playing():  # noqa: ASYNC110 - a deadline that moves as audio is queued
            await asyncio.sleep(max(0.02, self.pacer.playout_end - time.monotonic()))

    def _backstop_s(self) -> float:
        return max(0.05, self.pacer.playout_end - time.monotonic()) + MARK_GRACE_S

    # --- what the far side reports -----------------------------------------------------------
    def on_mark(self, name: str) -> AgentReply | None:
        """Twilio played a mark; returns the reply it belongs to (None: a cleared one)."""
        reply = self.reply
        if reply is None or reply.spoken.mark_played(name) is None:
            return None
        if reply.spoken.all_played and reply.fully_queued:
            self.pacer.played_through()
        self._changed.set()
        return reply

    # --- state -------------------------------------------------------------------------------
    def in_flight(self) -> bool:
        return self._task is not None and not self._task.done()

    def audible(self) -> bool:
        """The caller hears (or is about to hear) the agent."""
        return self.pacer.is_playing() or (self.reply is not None and self.reply.audible)

    def preparing(self) -> bool:
        """A reply is on its way but none of it is audible yet (the LLM or TTS is slow)."""
        reply = self.reply
        return self.in_flight() and reply is not None and not reply.spoken.segments

    # --- prepared audio ----------------------------------------------------------------------
    def play_filler(self, audio: bytes) -> None:
        """A holding phrase from audio prepared at start-up: never waits on a slow provider."""
        first = self.pacer.frames_enqueued
        self.pacer.enqueue_audio(audio)
        self.pacer.end_segment()
        self._filler_frames = range(first, self.pacer.frames_enqueued)

    def _frame_sent(self, at: float, audio: bytes) -> None:
        filler = self.pacer.frames_sent - 1 in self._filler_frames
        self._hooks.agent_frame(at, audio, None if filler else self.reply)
