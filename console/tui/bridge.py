"""The console's one bus subscriber: folds events into the board and tells the app, coalesced.

The runtime publishes on Textual's own event loop, so the subscriber runs on it too (no thread
hand-off). Interim transcripts arrive ~5-10 times a second per call and latency samples once a
turn; repainting on each would waste the loop the audio shares. So events fold into the board at
once (a few dict operations) and the app hears `BoardChanged` at most every `interval` seconds
(0.1 s = 10 Hz, under what an eye notices). An emergency is the exception: it flushes and is
announced immediately.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.message import Message

from console.events import AlertRaised, CallEvent, EmergencyDetected, EventBus
from console.tui.board import CallBoard

REFRESH_INTERVAL = 0.1


class BoardChanged(Message):
    """These calls changed since the last message; screens re-read them from the board."""

    def __init__(self, call_sids: frozenset[str]) -> None:
        super().__init__()
        self.call_sids = call_sids


class EmergencyRaised(Message):
    """An emergency was detected on a call: ring, and show the alert on whatever screen is up."""

    def __init__(self, call_sid: str, phrase: str) -> None:
        super().__init__()
        self.call_sid = call_sid
        self.phrase = phrase


def _critical(event: CallEvent) -> bool:
    """A critical alert rings and comes up over every screen, as an emergency does."""
    return isinstance(event, AlertRaised) and event.level == "critical"


class EventBridge:
    def __init__(
        self,
        board: CallBoard,
        post: Callable[[Message], object],
        interval: float = REFRESH_INTERVAL,
    ) -> None:
        self._board = board
        self._post = post
        self._interval = interval
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, bus: EventBus) -> None:
        self._unsubscribe = bus.subscribe(self.on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def on_event(self, event: CallEvent) -> None:
        self._board.apply(event)
        self._dirty.add(event.call_sid)
        if isinstance(event, EmergencyDetected) or _critical(event):
            self.flush()
            self._post(EmergencyRaised(event.call_sid, getattr(event, "phrase", "")))
        elif self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._dirty:
            changed, self._dirty = frozenset(self._dirty), set()
            self._post(BoardChanged(changed))
