"""Keeping a caller company while they wait for a person: fixed lines, said in turn, with a short
pause between them, and never over the caller.

Silence is what the caller hears between the end of one line and the start of the next, so the
pause is counted from the end of the line (a line lasts seconds: a pause counted from its start
would change with its length). When the caller talks, the next line waits until they have been
quiet for a breath, however long they talk.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from console.calls.vad import VoiceActivity

# After the caller's own voice: a breath (a caller in distress pauses, then goes on). Longer
# than the voice activity's 150 ms hangover, short enough that a caller who keeps saying
# "hello?" still hears us between two of them.
AFTER_CALLER_S = 0.5


class CompanyHost(Protocol):
    async def speak_line(self, text: str, *, role: str = "agent") -> bool:
        """Say `text`; return once it has played (False: it was cut off)."""
        ...

    def caller_voice(self) -> VoiceActivity: ...


async def keep_company(host: CompanyHost, lines: Sequence[str], pause_s: float,
                       done: Callable[[], bool]) -> None:
    """Say `lines` in turn, over and over, until `done()`: the first as soon as the caller is
    quiet, each next one `pause_s` after the line before ended (or the caller's voice did)."""
    voice = host.caller_voice()
    ended: float | None = None  # when the last line ended; None: nothing said yet
    for text in itertools.cycle(lines):
        await until_quiet_for(voice, pause_s, since=ended, done=done)
        if done():
            return
        await host.speak_line(text)
        ended = time.monotonic()


async def until_quiet_for(voice: VoiceActivity, pause_s: float, *, since: float | None,
                          done: Callable[[], bool]) -> None:
    """Until `pause_s` has passed since `since` (None: at once) and the caller has been quiet
    for AFTER_CALLER_S, or `done()`. A deadline that moves whenever the caller speaks."""
    while not done():
        await voice.until_quiet()
        now = time.monotonic()
        ready_at = max(now if since is None else since + pause_s,
                       voice.last_voiced + AFTER_CALLER_S if voice.last_voiced else now)
        if ready_at <= now and not voice.talking(now):
            return
        await asyncio.sleep(max(ready_at - now, 0.01))
