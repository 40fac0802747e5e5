"""What one call waits to have decoded by the local recognizer (local/stt.py), bounded.

The decoder of a call takes one job at a time and awaits it, so the process's single decode
thread holds at most one decode per call and serves the calls round-robin. This backlog is where
the rest of a call's utterances wait, and what keeps a flood from piling up there.
"""

from __future__ import annotations

import asyncio
from collections import deque

# Finals one call may have waiting for the decode thread, each decoded on its own. A caller
# ends at most ~2 utterances a second (120 ms onset + 360 ms hangover) and a decode takes ~0.25 s,
# so a real caller on a busy machine rarely has 2 waiting; more than 4 means a flood, and the two
# oldest are merged into one decode (about the cost of one: Whisper reads 30 s windows).
MAX_WAITING = 4


class UtteranceBacklog:
    """What one call waits to have decoded. The decoder takes one job at a time, so the shared
    decode thread holds at most one decode per call. Finals wait in order, each its own job (a
    list of utterances, oldest first); past MAX_WAITING the two oldest jobs are merged, and past
    `max_bytes` of waiting audio (20 s: inside Whisper's 30 s window) the oldest utterances are
    dropped and counted. A partial is added only when nothing waits, so there is at most one."""

    def __init__(self, max_bytes: int) -> None:
        self.finals: deque[list[bytes]] = deque()
        self.partial: bytes | None = None
        self.ended = False
        self.merged = self.dropped = 0  # utterances, over the call
        self.dropped_bytes = 0  # ...of PCM16 audio, since the last report
        self._max_bytes = max_bytes
        self._ready = asyncio.Event()

    @property
    def idle(self) -> bool:
        return not self.finals and self.partial is None

    def add_final(self, pcm: bytes) -> None:
        self.finals.append([pcm])
        if len(self.finals) > MAX_WAITING:
            oldest = self.finals.popleft()
            self.finals[0][:0] = oldest
            self.merged += len(oldest)
        self._trim()
        self._ready.set()

    def add_partial(self, pcm: bytes) -> None:
        if self.idle:
            self.partial = pcm
            self._ready.set()

    def end(self) -> None:
        self.ended = True
        self._ready.set()

    async def take(self) -> tuple[str, bytes] | None:
        """The next (kind, pcm) to decode; None once the audio has ended and nothing is left."""
        while self.idle and not self.ended:
            self._ready.clear()
            await self._ready.wait()
        if self.partial is not None:
            partial, self.partial = self.partial, None
            return "interim", partial
        return ("final", b"".join(self.finals.popleft())) if self.finals else None

    def _trim(self) -> None:
        waiting = sum(len(pcm) for job in self.finals for pcm in job)
        while waiting > self._max_bytes and (len(self.finals) > 1 or len(self.finals[0]) > 1):
            oldest = self.finals[0].pop(0)
            if not self.finals[0]:
                self.finals.popleft()
            waiting -= len(oldest)
            self.dropped += 1
            self.dropped_bytes += len(oldest)
