"""The two bounded queues a call uses, one per overflow policy.

- `NewestAudio`: caller audio on its way to a recognizer. When it is full the *oldest* chunk goes:
  for turn-taking the newest audio matters, and audio that old would only be recognized too late
  to act on. Drops are counted, and reported once per episode (not per frame).
- `Inbox`: a producer task handing items to its consumer (a socket reader, a token reader). When
  it is full the producer waits (backpressure): nothing is lost, and what feeds the producer (a
  socket's own buffers, or a `NewestAudio` upstream) holds or drops instead. An item that ends the
  stream (an end marker, an error) always fits, so a finished producer never waits on a consumer
  that has gone.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# A drop episode is reported when the queue next drains, or after this long if it never does
# (a recognizer that stopped reading for good): the operator hears within seconds, not at hang-up.
REPORT_EVERY_S = 5.0

DropReport = Callable[[int], None]  # "this many chunks were dropped in the episode just ended"


class NewestAudio(asyncio.Queue[bytes | None]):
    """Audio chunks, ending with None (`AudioQueueReader` reads it). Holds at most `max_chunks`;
    a put when full drops the oldest chunk. The end marker is never dropped, and nothing is
    queued after it. `dropped`: chunks dropped over the queue's life."""

    def __init__(self, max_chunks: int, on_dropped: DropReport | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(maxsize=max_chunks)
        self.dropped = 0
        self._on_dropped = on_dropped or (lambda _count: None)
        self._clock = clock
        self._episode = 0  # chunks dropped since the last report
        self._episode_started = 0.0
        self._ended = False

    def put_nowait(self, item: bytes | None) -> None:
        if self._ended:
            return  # after the end marker nobody reads: keeping it would only grow
        if item is None:
            self._ended = True
        if self.full():
            self._drop_oldest()
        super().put_nowait(item)

    def report(self) -> None:
        """Report the episode in progress now (the call is ending)."""
        if self._episode:
            count, self._episode = self._episode, 0
            self._on_dropped(count)

    def _drop_oldest(self) -> None:
        self.get_nowait()  # never the end marker: nothing is put after it
        self.dropped += 1
        now = self._clock()
        if not self._episode:
            self._episode_started = now
        self._episode += 1
        if now - self._episode_started >= REPORT_EVERY_S:
            self.report()

    def _get(self) -> bytes | None:
        item = super()._get()
        if self.empty() and self._episode:
            self.report()  # drained: the reader caught up, the episode is over
        return item


class Inbox(Generic[T]):
    """A bounded hand-over from one producer task to one consumer. `put` waits for room;
    `put_final` (an end marker, an error) never waits and always fits. Cancel-safe both ways."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[tuple[T, bool]] = deque()
        self._room = asyncio.Semaphore(limit)
        self._arrived = asyncio.Event()

    async def put(self, item: T) -> None:
        await self._room.acquire()
        self._add(item, counted=True)

    def put_final(self, item: T) -> None:
        self._add(item, counted=False)

    async def get(self) -> T:
        while not self._items:
            self._arrived.clear()
            await self._arrived.wait()
        item, counted = self._items.popleft()
        if counted:
            self._room.release()
        return item

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def _add(self, item: T, *, counted: bool) -> None:
        self._items.append((item, counted))
        self._arrived.set()
