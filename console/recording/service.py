"""Recordings for a running console: which calls are recorded, their recorders, the writer
thread, the once-a-second flush, the retention purge, and the events (RecordingSaved when a call's
file is complete; an AlertRaised warning when a recording fails, while the call goes on).

The runtime hands it each call's sender (to wrap) and session (to tap); it subscribes to the bus
for CallEnded (finish the file) and CallerSpanRedacted (mute the caller over a span, also in what
is already written, also after the call ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from console import events as ev
from console.config import Settings
from console.profiles import Profile
from console.recording.recorder import CallRecorder
from console.recording.retention import DAY_S, purge
from console.recording.writer import FileHandle, RecordingWriter
from console.storage.files import private_folder
from console.streams import MediaSender, StreamStart

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0  # a crash loses at most this much audio (and the header follows each flush)
CLOSED_KEPT = 200  # finished recordings a late redaction can still reach
FINISH_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 3.0  # closing a file is one header patch: milliseconds, unless the disk is sick


class Tappable(Protocol):
    """A live call whose audio can be tapped (the calls ring's CallSession)."""

    @property
    def sid(self) -> str: ...

    def add_tap(self, tap: Callable[[str, bytes], None]) -> Callable[[], None]: ...


def started_now() -> tuple[float, float]:
    """Sample 0 of a recording, on the monotonic and the wall clock."""
    return time.monotonic(), time.time()


class Recordings:
    def __init__(self, settings: Settings, bus: ev.EventBus) -> None:
        self.settings = settings
        self.bus = bus
        self.folder = settings.recordings_folder()
        self.writer = RecordingWriter()
        self._live: dict[str, CallRecorder] = {}
        self._closed: OrderedDict[str, CallRecorder] = OrderedDict()
        self._finishing: set[asyncio.Task[None]] = set()
        self._finishing_by_sid: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.recording.enabled

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.enabled:
            return
        try:
            await asyncio.to_thread(private_folder, self.folder)
        except OSError as error:  # each call then says so (AlertRaised); the console starts
            log.warning("recordings folder %s is unusable: %s", self.folder, error)
        self.writer.start()
        self._unsubscribe = self.bus.subscribe(self._on_event)
        self._tasks = [asyncio.create_task(self._flush_periodically(), name="recordings-flush"),
                       asyncio.create_task(self._purge_daily(), name="recordings-retention")]

    async def stop(self) -> None:
        """After the calls ended: finish their files (RecordingSaved), then stop the writer."""
        for task in self._tasks:
            task.cancel()
        for sid in list(self._live):
            self._finish(sid)  # a call whose end we never heard of (its session failed)
        if self._finishing:
            await asyncio.wait(self._finishing, timeout=FINISH_TIMEOUT_S)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.writer.stop()

    # --- per call -----------------------------------------------------------------------------
    def wants(self, profile: Profile | None) -> bool:
        """None: a call with no profile of its own, recorded whenever recording is on."""
        return self.enabled and (profile is None or profile.record_calls)

    def announced(self, profile: Profile) -> Profile:
        """The profile as a recorded call runs it: its recording announcement (if it has one)
        is the first thing the caller hears, ahead of the greeting, and is in the recording;
        the caller's channel starts once that first line has played (CallRecorder)."""
        line = profile.recording_announcement
        if not (line and self.wants(profile)):
            return profile
        return dataclasses.replace(profile, greeting=f"{line} {profile.greeting}")

    def record(self, start: StreamStart, sender: MediaSender, profile: Profile | None,
               started: tuple[float, float]) -> MediaSender:
        """The sender the call's session should use: `sender` itself when the call is not
        recorded, else a recorder in front of it. `started` is sample 0 (`started_now()` taken
        when the stream started, before anything awaited)."""
        if (live := self._live.get(start.call_sid)) is not None:
            # The same call on a new stream (back from a warm transfer nobody took): one
            # recording goes on, the hold a stretch of silence in it.
            return live.reconnected(sender)
        if not self.wants(profile):
            return sender
        handle = FileHandle(start.call_sid, self._path_for(start.call_sid, started[1]),
                            self._failed)
        announced = bool(profile and profile.recording_announcement)
        recorder = CallRecorder(sender, self.writer, handle, started, announced)
        if not self.writer.open(handle):
            return sender
        self._live[start.call_sid] = recorder
        return recorder

    def listen(self, session: Tappable) -> None:
        """Tap the session's caller frames (the left channel)."""
        if (recorder := self._live.get(session.sid)) is not None:
            session.add_tap(recorder.tap)

    def drop(self, call_sid: str) -> None:
        """The call's session could not start: its recorder and file go (nothing was heard)."""
        if (recorder := self._live.pop(call_sid, None)) is not None:
            self.writer.discard(recorder.handle)

    def _path_for(self, call_sid: str, wall0: float) -> Path:
        stamp = datetime.fromtimestamp(wall0, UTC).strftime("%Y%m%d-%H%M%S")
        return self.folder / f"{stamp}-{call_sid}.wav"

    # --- events -------------------------------------------------------------------------------
    def _on_event(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.CallEnded):
            self._finish(event.call_sid)
        elif isinstance(event, ev.CallerSpanRedacted):
            self._mute(event)
        elif isinstance(event, ev.CallSummarized):
            # A call's last word: redaction has seen every turn by then. Kept longer, finished
            # recorders (each a dozen small objects, made while the call ran) stay scattered
            # over the heap pages of everything else the call allocated, and keep those pages
            # from ever going back after a burst of calls (bench/hostile_load.py).
            self._closed.pop(event.call_sid, None)

    def _mute(self, event: ev.CallerSpanRedacted) -> None:
        if (recorder := self._live.get(event.call_sid)) is not None:
            recorder.mute(event.started, event.ended)
        elif (recorder := self._closed.get(event.call_sid)) is not None:
            start, end = recorder.mute(event.started, event.ended)
            self.writer.mute_closed(recorder.handle, start, end)

    def _finish(self, call_sid: str) -> None:
        recorder = self._live.pop(call_sid, None)
        if recorder is None:
            return
        recorder.finish()
        self._closed[call_sid] = recorder
        while len(self._closed) > CLOSED_KEPT:
            self._closed.popitem(last=False)
        task = asyncio.create_task(self._saved(recorder.handle), name=f"recording-{call_sid}")
        self._finishing.add(task)
        self._finishing_by_sid[call_sid] = task
        task.add_done_callback(self._finishing.discard)
        task.add_done_callback(lambda _: self._finishing_by_sid.pop(call_sid, None))

    async def settled(self, call_sid: str, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Once the call's recording is saved (RecordingSaved published), or at once if it is not
        being finished. The summary waits on this, so the webhook built from the stored call
        carries the recording's path; a writer stuck on a slow disk delays it `timeout_s` at
        most."""
        if (task := self._finishing_by_sid.get(call_sid)) is not None:
            await asyncio.wait({task}, timeout=timeout_s)

    async def _saved(self, handle: FileHandle) -> None:
        await self.writer.close(handle)
        if handle.seconds > 0 or handle.error is None:
            self.bus.publish(ev.RecordingSaved(handle.call_sid, path=str(handle.path),
                                               seconds=round(handle.seconds, 2)))

    def _failed(self, handle: FileHandle, problem: str) -> None:
        """A recording could not go on (disk full, folder gone): said once, the call goes on."""
        if handle.error is not None:
            return
        handle.error = problem
        log.warning("call %s: recording stopped: %s", handle.call_sid, problem)
        self.bus.publish(ev.AlertRaised(handle.call_sid, level="warning",
                                        message=f"Recording stopped: {problem}. The call goes on."
                                        [:200]))

    # --- named tasks --------------------------------------------------------------------------
    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            for recorder in list(self._live.values()):
                recorder.flush()

    async def _purge_daily(self) -> None:
        days = self.settings.recording.retention_days
        while True:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(purge, self.folder, days)
            await asyncio.sleep(DAY_S)
