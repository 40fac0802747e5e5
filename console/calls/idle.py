"""The idle ladder: a caller who says nothing is reprompted, then bid goodbye and hung up on.

Silence is measured by our voice activity on the inbound audio, never by transcripts: a local
recognizer sends nothing until an utterance ends, and a caller in the middle of a 20-second
story is not idle. The ladder only climbs while the agent has the call and nothing is being said
or prepared, and any sound from the caller (or anything the agent says) starts it again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from console.calls.vad import VoiceActivity

CHECK_S = 0.25  # while the ladder cannot climb (the agent is busy), look again this often


class IdleHost(Protocol):
    def agent_has_call(self) -> bool: ...

    def agent_busy(self) -> bool: ...

    def agent_quiet_since(self) -> float: ...

    async def idle_line(self, text: str, *, hang_up: bool = False, quiet_s: float = 0.0) -> bool:
        """Say it; True once it has played (and, with `hang_up`, the call ended). `quiet_s`:
        how long the line had been silent (voice activity) when the ladder climbed."""
        ...


class IdleLadder:
    def __init__(self, caller: VoiceActivity, host: IdleHost, times: tuple[float, float],
                 lines: tuple[str, str]) -> None:
        self.caller = caller
        self.host = host
        self.reprompt_s, self.hangup_s = times
        self.reprompt, self.goodbye = lines

    async def run(self) -> None:
        reprompted_at: float | None = None  # the activity mark the reprompt left behind
        while True:
            await asyncio.sleep(self._until_next_step(reprompted_at))
            if not self._may_climb():
                continue
            last = self._last_activity()
            if reprompted_at is not None and last > reprompted_at:
                reprompted_at = None  # the caller (or the agent) spoke since: start again
            quiet = time.monotonic() - last
            if reprompted_at is None and quiet >= self.reprompt_s:
                await self.host.idle_line(self.reprompt, quiet_s=quiet)
                reprompted_at = self._last_activity()
            elif reprompted_at is not None and quiet >= self.hangup_s:
                if await self.host.idle_line(self.goodbye, hang_up=True):
                    return
                reprompted_at = None  # the caller cut the goodbye short: they are there

    def _last_activity(self) -> float:
        return max(self.caller.last_voiced, self.host.agent_quiet_since())

    def _may_climb(self) -> bool:
        return (self.host.agent_has_call() and not self.host.agent_busy()
                and not self.caller.talking())

    def _until_next_step(self, reprompted_at: float | None) -> float:
        wait = self.hangup_s if reprompted_at is not None else self.reprompt_s
        remaining = self._last_activity() + wait - time.monotonic()
        return max(CHECK_S, remaining)
