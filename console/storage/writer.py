"""StoreWriter: the one writer of the call store, an EventBus subscriber with its own thread.

The event loop only ever does a `SimpleQueue.put` (well under a microsecond). A dedicated thread
owns the write connection: it takes everything queued, writes it in one IMMEDIATE transaction and
commits, so nothing waits longer than one batch to be durable. When the database refuses (locked
by another connection, disk full, file gone) the events stay in memory, in order, and the batch is
retried with backoff; nothing is lost silently, and nothing kills the thread.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from console.events import CallerTranscribed, CallEvent, ReplyProposed
from console.storage.db import mark_abandoned, open_db, write_event
from console.storage.fleet_ids import already_stored

log = logging.getLogger(__name__)

# 50k events is hours of calls (a busy call makes ~20 stored events a minute); past that the
# oldest are dropped, loudly, rather than letting a dead disk take the process's memory with it.
DEFAULT_MAX_PENDING = 50_000
# The writer's own SQLite busy wait is short on purpose: it retries with backoff itself, so it can
# keep taking events off the queue (and keep the bound) while another connection holds the lock.
WRITER_BUSY_TIMEOUT_S = 0.25
LOCK_BACKOFF_S = (0.05, 1.0)  # first wait, cap
FAILURE_BACKOFF_S = (0.25, 5.0)

# SQLite errors that belong to one event (a NULL where text must be, a value SQLite cannot
# bind) rather than to the database. These, and any non-SQLite exception, drop that one event;
# every other sqlite3.Error (locked, full, I/O, missing table) is the database's: retry.
_SQLITE_DATA_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,
)
_LOCK_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class StoreUnavailable(RuntimeError):
    """The writer gave up (closed with a timeout) before these events reached the database."""


def _is_environmental(error: Exception) -> bool:
    return isinstance(error, sqlite3.Error) and not isinstance(error, _SQLITE_DATA_ERRORS)


def _is_locked(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # extended codes keep the base low byte
    return code in _LOCK_CODES or "locked" in str(error)


# ---------------------------------------------------------------------------- queue items


@dataclass
class _Flush:
    """Published after the events it waits for; resolved once they are all committed."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]

    def resolve(self, error: BaseException | None = None) -> None:
        try:
            self.loop.call_soon_threadsafe(_settle, self.future, error)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # cancelled by a wait_for timeout
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


@dataclass(frozen=True)
class _AbandonSweep:
    reason: str
    only: frozenset[str] | None = None  # None: every call left live


@dataclass(frozen=True)
class _Keyed:
    """An event from the fleet's stream, stored once by its id (storage/fleet_ids.py)."""

    fleet_id: str
    event: CallEvent


class _Stop:
    """The last item: the writer commits what it has and ends."""


_STOP = _Stop()
_Job = CallEvent | _Keyed | _AbandonSweep
_Item = _Job | _Flush | _Stop


# ---------------------------------------------------------------------------- the writer


class StoreWriter:
    """Subscribe it to the EventBus, `start()` it, `await close()` at shutdown.

    Counters (written by the writer thread only): `failures` (database errors other than lock
    waits, and events dropped as unstorable), `lock_waits`, `dropped` (events lost to the bound or
    to a data error; each loss is logged)."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        busy_timeout: float = WRITER_BUSY_TIMEOUT_S,
        mark_abandoned_on_start: bool = True,
        also_write: Callable[[Database, CallEvent], None] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.failures = 0
        self.lock_waits = 0
        self.dropped = 0
        self._max_pending = max_pending
        self._busy_timeout = busy_timeout
        self._sweep_on_start = mark_abandoned_on_start
        # More rows per event, in the same transaction (the webhook outbox: a call's summary and
        # its pending delivery commit together).
        self._also_write = also_write
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._pending: deque[_Job] = deque()  # writer thread only
        self._flushes: list[_Flush] = []  # writer thread only
        self._stopping = False  # writer thread only
        self._delay = 0.0  # current backoff, writer thread only
        self._abandon = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- event-loop side ------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread. With `mark_abandoned_on_start`, its first job (before any
        event) marks calls left `live` by a dead process as `interrupted`."""
        if self._thread is not None:
            raise RuntimeError("StoreWriter already started")
        self._thread = threading.Thread(
            target=self._run, name="voiceconsole-store-writer", daemon=True
        )
        self._thread.start()

    def __call__(self, event: CallEvent) -> None:
        """EventBus subscriber: never blocks, never touches the database."""
        if _kept(event) and self._open_for(event):
            self._queue.put(event)

    def store(self, event: CallEvent, fleet_id: str) -> None:
        """The recorder's way in: like a bus event, but stored at most once per `fleet_id` (an
        entry of the fleet's stream delivered again is skipped in the same transaction)."""
        if _kept(event) and self._open_for(event):
            self._queue.put(_Keyed(fleet_id, event))

    def mark_interrupted(self, call_sids: frozenset[str], reason: str = "interrupted") -> None:
        """Queue the marking of these calls, if still live, as `reason` (in event order: a call
        whose end is already queued ends as it did)."""
        if call_sids and not self._closed:
            self._queue.put(_AbandonSweep(reason, call_sids))

    def _open_for(self, event: CallEvent) -> bool:
        if self._closed:
            log.warning("call store closed; %s for %s not stored", event.kind, event.call_sid)
        return not self._closed

    async def flush(self) -> None:
        """Resolve once every event published before this call is committed. Raises
        StoreUnavailable if the writer is closed before that can happen."""
        if self._thread is None or self._closed:
            raise RuntimeError("flush() needs a started, open StoreWriter")
        await self._flushed()

    async def _flushed(self) -> None:
        loop = asyncio.get_running_loop()
        marker = _Flush(loop, loop.create_future())
        self._queue.put(marker)
        await marker.future

    async def close(self, grace_s: float = 10.0) -> None:
        """Flush, then stop the thread. If the database stays unwritable for `grace_s` seconds
        the writer gives up and logs how many events were lost."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            if self._queue.qsize():
                log.error("call store never started; %d events not stored", self._queue.qsize())
            return
        try:
            await asyncio.wait_for(self._flushed(), grace_s)
        except TimeoutError:
            self._abandon.set()
        except StoreUnavailable:
            pass  # the writer already gave up and logged what was lost
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join, grace_s)

    @property
    def pending(self) -> int:
        """Events not yet committed (approximate when read from another thread)."""
        return len(self._pending) + self._queue.qsize()

    def mark_abandoned_calls(self, reason: str = "interrupted") -> int:
        """Blocking, on its own connection: call before the loop runs or via asyncio.to_thread.
        `start()` already does this on the writer thread unless told not to."""
        db = open_db(self.db_path)
        try:
            count = mark_abandoned(db, reason)
        finally:
            db.close()
        if count:
            log.warning("marked %d call(s) left live by a dead process as %s", count, reason)
        return count

    # -- writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        db = self._connect()
        if db is None:
            self._give_up()
            return
        if self._sweep_on_start:
            self._pending.appendleft(_AbandonSweep("interrupted"))
        try:
            self._serve(db)
        except Exception:  # a bug here must fail the waiting flushes, not hang them
            log.critical("call store writer crashed", exc_info=True)
            self._give_up()
        finally:
            db.close()

    def _connect(self) -> Database | None:
        while not self._abandon.is_set():
            try:
                return open_db(self.db_path, busy_timeout=self._busy_timeout)
            except (sqlite3.Error, OSError) as error:
                self._note_failure(error)
            self._abandon.wait(self._delay)
            self._drain(block=False)
        return None

    def _serve(self, db: Database) -> None:
        while not self._abandon.is_set():
            self._drain(block=not self._pending)
            if self._commit(db):
                self._recovered()
                if self._stopping:
                    return
            else:
                self._abandon.wait(self._delay)
        self._give_up()

    def _drain(self, block: bool) -> None:
        items = [self._queue.get()] if block else []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for item in items:
            self._accept(item)
        self._enforce_bound()

    def _accept(self, item: _Item) -> None:
        if isinstance(item, _Stop):
            self._stopping = True
        elif isinstance(item, _Flush):
            self._flushes.append(item)
        else:
            self._pending.append(item)

    def _enforce_bound(self) -> None:
        excess = len(self._pending) - self._max_pending
        if excess <= 0:
            return
        for _ in range(excess):
            self._pending.popleft()
        self.dropped += excess
        log.error(
            "call store unwritable: dropped the %d oldest events (%d lost so far)",
            excess,
            self.dropped,
        )

    def _commit(self, db: Database) -> bool:
        """Write everything pending in one transaction. False: keep it all and back off."""
        if not self._pending:
            return True
        try:
            self._write(db, list(self._pending))
        except Exception as error:
            if _is_environmental(error):
                self._note_failure(error)
                return False
            return self._commit_one_by_one(db)
        self._pending.clear()
        return True

    def _commit_one_by_one(self, db: Database) -> bool:
        """A batch held an unstorable event: write singly so only that one is lost."""
        while self._pending:
            job = self._pending[0]
            try:
                self._write(db, [job])
            except Exception as error:
                if _is_environmental(error):
                    self._note_failure(error)
                    return False
                self._drop_unstorable(job)
            self._pending.popleft()
        return True

    def _write(self, db: Database, jobs: list[_Job]) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that read first could
        # fail with BUSY_SNAPSHOT on its first write, without waiting at all.
        db.rollback()  # no-op, unless a failed rollback once left a transaction open
        db.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                self._write_job(db, job)
            db.execute("COMMIT")
        except BaseException:
            db.rollback()
            raise

    def _write_job(self, db: Database, job: _Job) -> None:
        if isinstance(job, _AbandonSweep):
            count = mark_abandoned(db, job.reason, job.only)
            if count:
                log.warning(
                    "marked %d call(s) left live by a dead process as %s", count, job.reason
                )
        elif isinstance(job, _Keyed):
            if not already_stored(db, job.fleet_id):
                self._write_event(db, job.event, job.fleet_id)
        else:
            self._write_event(db, job)

    def _write_event(self, db: Database, event: CallEvent, fleet_id: str | None = None) -> None:
        write_event(db, event, fleet_id)
        if self._also_write is not None:
            self._also_write(db, event)

    def _drop_unstorable(self, job: _Job) -> None:
        self.failures += 1
        self.dropped += 1
        log.exception("call store cannot hold %r; dropped it", job)

    def _note_failure(self, error: BaseException) -> None:
        if _is_locked(error):
            self.lock_waits += 1
            self._delay = _next_delay(self._delay, *LOCK_BACKOFF_S)
            if self.lock_waits == 1 or self.lock_waits % 20 == 0:
                log.warning(
                    "call store locked by another connection; %d events wait (%d tries)",
                    len(self._pending),
                    self.lock_waits,
                )
            return
        self.failures += 1
        self._delay = _next_delay(self._delay, *FAILURE_BACKOFF_S)
        log.error(
            "call store write failed (%s: %s); %d events kept in memory, retry in %.2fs "
            "(%d failures)",
            type(error).__name__,
            error,
            len(self._pending),
            self._delay,
            self.failures,
        )

    def _recovered(self) -> None:
        if self._delay:
            log.info("call store writable again")
        self._delay = 0.0
        flushes, self._flushes = self._flushes, []
        for marker in flushes:
            marker.resolve()

    def _give_up(self) -> None:
        self._drain(block=False)  # flush markers still queued must hear the news too
        lost = len(self._pending)
        log.error("call store writer gave up: %d events not stored in %s", lost, self.db_path)
        error = StoreUnavailable(f"{lost} events not stored in {self.db_path}")
        for marker in self._flushes:
            marker.resolve(error)
        self._flushes = []


def _kept(event: CallEvent) -> bool:
    """Whether an event is history. Interim words arrive several times a second and are
    superseded by finals; a gated reply's partial text comes token by token, and its complete
    text is stored."""
    if isinstance(event, CallerTranscribed):
        return event.final
    if isinstance(event, ReplyProposed):
        return event.complete
    return True


def _next_delay(current: float, first: float, cap: float) -> float:
    return min(cap, max(first, current * 2))
