"""The dead-air watchdog: a caller who has finished speaking never waits in silence.

When the caller has spoken last (or a reply is still being prepared) and the line has been quiet
for a while, a short holding phrase ("One moment.") is played from audio prepared at start-up,
so it works even when the slow part is the TTS itself. Speech end is judged by our voice
activity on the inbound audio, not by the recognizer, so a slow recognizer is covered too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from console.calls.vad import VoiceActivity

FIRST_FILLER_S = 1.5  # quiet after the caller stopped: inside the 2 s nobody should wait
NEXT_FILLER_S = 2.0  # further quiet, while a reply is still being prepared
MAX_FILLERS = 3  # per caller turn; after that the apology or the operator takes over
CHECK_EVERY_S = 0.2
FILLERS = ("One moment.", "Just a moment, please.", "Thanks for waiting.")


class DeadAirHost(Protocol):
    def agent_has_call(self) -> bool: ...

    def agent_quiet_since(self) -> float:
        """When the agent's last audio finishes (or finished) playing, monotonic."""
        ...

    def reply_being_prepared(self) -> bool: ...

    def play_filler(self, text: str) -> None: ...


class DeadAirWatchdog:
    def __init__(self, caller: VoiceActivity, host: DeadAirHost) -> None:
        self.caller = caller
        self.host = host
        self.fillers_this_turn = 0
        self._turn_speech_end = 0.0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        if self.caller.speech_ended != self._turn_speech_end:  # the caller said something new
            self._turn_speech_end, self.fillers_this_turn = self.caller.speech_ended, 0
        if self._quiet_for(now) >= self._threshold() and self._caller_waiting(now):
            self._fill()

    def _threshold(self) -> float:
        return FIRST_FILLER_S if self.fillers_this_turn == 0 else NEXT_FILLER_S

    def _quiet_for(self, now: float) -> float:
        """Since anyone last made a sound: the caller's last voiced frame (a short "no." in a
        pause counts too), or the end of the agent's audio."""
        agent_until = self.host.agent_quiet_since()
        if agent_until > now:
            return 0.0
        return now - max(self.caller.last_voiced, agent_until)

    def _caller_waiting(self, now: float) -> bool:
        if not self.host.agent_has_call():
            return False
        if self.fillers_this_turn >= MAX_FILLERS or self.caller.talking(now):
            return False
        spoke_last = self.caller.speech_ended > self.host.agent_quiet_since()
        preparing = self.host.reply_being_prepared()
        return (spoke_last and self.fillers_this_turn == 0) or preparing

    def _fill(self) -> None:
        text = FILLERS[self.fillers_this_turn % len(FILLERS)]
        self.fillers_this_turn += 1
        self.host.play_filler(text)
