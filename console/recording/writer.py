"""The one thread that writes every call's recording: the event loop only ever does a
`Queue.put_nowait` (it never waits on a disk), and a disk that is full or gone fails one
recording, visibly, never a call.

Jobs run in order per process, so a call's blocks reach its file in the order they were taken.
The queue is bounded (MAX_JOBS): at one block a second per call, 2000 jobs are 40 s of backlog at
50 calls; past that the disk is not keeping up and the recording that could not queue is failed
rather than left with a hole in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.recording.wavfile import StereoWav

log = logging.getLogger(__name__)

MAX_JOBS = 2000
STOP_TIMEOUT_S = 10.0


@dataclass(eq=False)
class FileHandle:
    """One recording's file as the loop sees it. `wav` and `broken` belong to the writer thread;
    `error` is set on the loop (through `on_error`) once the thread reports a failure."""

    call_sid: str
    path: Path
    on_error: Callable[[FileHandle, str], None]
    wav: StereoWav | None = None
    broken: bool = False
    error: str | None = None
    seconds: float = field(default=0.0)


@dataclass
class _Job:
    handle: FileHandle | None
    work: Callable[..., Any]
    args: tuple[Any, ...]
    done: asyncio.Future[None] | None = None


class RecordingWriter:
    def __init__(self) -> None:
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=MAX_JOBS)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._thread.start()

    # --- what the loop calls (never blocks) ---------------------------------------------------
    def open(self, handle: FileHandle) -> bool:
        return self._submit(_Job(handle, _open, ()))

    def append(self, handle: FileHandle, left: bytes, right: bytes) -> bool:
        return self._submit(_Job(handle, _append, (left, right)))

    def mute(self, handle: FileHandle, start: int, end: int) -> bool:
        return self._submit(_Job(handle, _mute, (start, end)))

    def mute_closed(self, handle: FileHandle, start: int, end: int) -> bool:
        return self._submit(_Job(handle, _mute_closed, (start, end)))

    def close(self, handle: FileHandle) -> asyncio.Future[None]:
        """Resolves once the file is closed (or failed): `handle.seconds` is then its length."""
        assert self._loop is not None
        done = self._loop.create_future()
        if not self._submit(_Job(handle, _close, (), done), even_if_failed=True):
            done.set_result(None)
        return done

    def discard(self, handle: FileHandle) -> None:
        """Close the file and delete it."""
        self._submit(_Job(handle, _discard, ()), even_if_failed=True)

    async def written(self) -> None:
        """Until every job queued before this call is done (tests, the crash probe)."""
        assert self._loop is not None
        done = self._loop.create_future()
        if self._submit(_Job(None, _nothing, (), done)):
            await done

    def _submit(self, job: _Job, even_if_failed: bool = False) -> bool:
        """Queue a job; False when the recording has failed or the queue is full (which fails
        it: a recording with a hole in it would no longer be true to the call)."""
        handle = job.handle
        if self._thread is None or (handle and handle.error is not None and not even_if_failed):
            return False
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            if handle is not None:
                self._report(handle, "the disk is not keeping up (writer queue full)")
            return False
        return True

    async def stop(self) -> None:
        """Finish every queued job, then end the thread."""
        if self._thread is None:
            return
        await asyncio.to_thread(self._queue.put, None)
        await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
        self._thread = None

    # --- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._do(job)
            finally:
                if job.done is not None:
                    self._call_soon(_settle, job.done)

    def _do(self, job: _Job) -> None:
        handle = job.handle
        if handle is None or (handle.broken and job.work not in _ALWAYS):
            return
        try:
            job.work(handle, *job.args)
        except Exception as error:  # noqa: BLE001 - one recording fails, never the writer
            handle.broken = True
            self._report(handle, _describe(error))

    def _report(self, handle: FileHandle, problem: str) -> None:
        self._call_soon(handle.on_error, handle, problem)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
                self._loop.call_soon_threadsafe(callback, *args)


def _describe(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} ({error.filename or 'recording'})"
    return f"{type(error).__name__}: {error}"


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _nothing() -> None:
    pass


def _open(handle: FileHandle) -> None:
    handle.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle.wav = StereoWav.create(handle.path)


def _append(handle: FileHandle, left: bytes, right: bytes) -> None:
    if handle.wav is not None:
        handle.wav.append(left, right)
        handle.seconds = handle.wav.seconds


def _mute(handle: FileHandle, start: int, end: int) -> None:
    if handle.wav is not None:
        handle.wav.mute_left(start, end)


def _mute_closed(handle: FileHandle, start: int, end: int) -> None:
    wav = StereoWav.reopen(handle.path)
    try:
        wav.mute_left(start, end)
    finally:
        wav.close()


def _close(handle: FileHandle) -> None:
    if handle.wav is not None:
        handle.wav.close()
        handle.wav = None


def _discard(handle: FileHandle) -> None:
    _close(handle)
    handle.path.unlink(missing_ok=True)


_ALWAYS = (_close, _discard)  # run even for a recording that failed: they release its file
