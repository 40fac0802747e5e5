"""The dead-air watchdog: a caller who has finished speaking never waits in silence.

When the caller has spoken last (or a reply is still being prepared) and the line has been quiet
for a while, a short holding phrase ("One moment.") is played from audio prepared at start-up,
so it works even when the slow part is the TTS itself. Speech end is judged from the inbound
audio's loudness, not from the recognizer, so a slow recognizer is covered too.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.calls.session import CallSession

FIRST_FILLER_S = 1.5  # quiet after the caller stopped: inside the 2 s nobody should wait
NEXT_FILLER_S = 2.0  # further quiet, while a reply is still being prepared
MAX_FILLERS = 3  # per caller turn; after that the apology or the operator takes over
MIN_SPEECH_S = 0.4  # a loud run shorter than this (a cough, a click) is not a turn
CHECK_EVERY_S = 0.2
PAUSE_S = 0.3  # quiet this long and the caller has paused (or stopped)
FILLERS = ("One moment.", "Just a moment, please.", "Thanks for waiting.")


@dataclass
class SpeechTracker:
    """Loud runs of the inbound audio: when the caller last finished saying something."""

    run_started: float | None = None
    last_loud: float = 0.0
    speech_ended: float = 0.0  # end of the last run long enough to be speech

    def frame(self, loud: bool, now: float) -> None:
        if loud:
            if self.run_started is None or now - self.last_loud > PAUSE_S:
                self.run_started = now
            self.last_loud = now
            if now - self.run_started >= MIN_SPEECH_S:
                self.speech_ended = now

    def talking(self, now: float) -> bool:
        return now - self.last_loud < PAUSE_S

    async def until_quiet(self) -> None:
        """Return once the caller has paused (no loud frame for PAUSE_S)."""
        while True:
            remaining = PAUSE_S - (time.monotonic() - self.last_loud)
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)  # a timer to the expected pause; new speech re-arms it


class DeadAirWatchdog:
    def __init__(self, session: CallSession) -> None:
        self.session = session
        self.fillers_this_turn = 0
        self._turn_speech_end = 0.0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        speech = self.session.speech
        if speech.speech_ended != self._turn_speech_end:  # the caller said something new
            self._turn_speech_end, self.fillers_this_turn = speech.speech_ended, 0
        if self._quiet_for(now) >= self._threshold() and self._caller_waiting(now):
            self._fill()

    def _threshold(self) -> float:
        return FIRST_FILLER_S if self.fillers_this_turn == 0 else NEXT_FILLER_S

    def _quiet_for(self, now: float) -> float:
        session = self.session
        if session.pacer.is_playing(now):
            return 0.0
        return now - max(session.speech.speech_ended, session.pacer.playout_end)

    def _caller_waiting(self, now: float) -> bool:
        session = self.session
        if (session.operator_mode or session.agent_muted or session.listening_paused
                or session.escalation is not None or session.ended):
            return False
        if self.fillers_this_turn >= MAX_FILLERS or session.speech.talking(now):
            return False
        spoke_last = session.speech.speech_ended > session.pacer.playout_end
        preparing = session.reply_being_prepared()
        return (spoke_last and self.fillers_this_turn == 0) or preparing

    def _fill(self) -> None:
        text = FILLERS[self.fillers_this_turn % len(FILLERS)]
        self.fillers_this_turn += 1
        self.session.play_filler(text)
