"""The webhook outbox: one row per end-of-call delivery, kept in the call store.

A delivery is queued by the store writer in the same transaction that writes the call's summary
(`enqueue`), so a call's record and its pending hand-off commit together or not at all. From then
on its whole state lives in this table (status, attempts, when the next attempt is due, the last
error, the frozen body), so a restart or a kill -9 loses nothing: whatever is `pending` and due is
sent again.

`Outbox` is the delivery side's own connection. Its writes are single-row updates, each its own
short transaction; SQLite's busy wait covers the moments the store writer holds the lock (the
writer itself retries with backoff when we hold it). Every method blocks: call it off the loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from console.events import CallEvent, CallSummarized
from console.storage.db import OUTBOX_TABLE, open_db
from console.storage.records import CallDetail, Delivery

TABLE = OUTBOX_TABLE
KIND = "call.completed"
STATUSES = ("pending", "delivered", "dead")


def idempotency_key(call_sid: str, kind: str = KIND) -> str:
    return f"{call_sid}:{kind}"


def enqueue(db: Database, event: CallEvent) -> None:
    """Store-writer hook, inside its transaction: a summarized call gets its delivery. A second
    summary of the same call (the key already exists) queues nothing: one hand-off per call."""
    if not isinstance(event, CallSummarized) or _is_drill(db, event.call_sid):
        return
    db.execute(
        f"""INSERT INTO {TABLE} (idempotency_key, call_sid, kind, status, attempts,
                                next_attempt_at, created, updated)
            VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)
            ON CONFLICT(idempotency_key) DO NOTHING""",
        [idempotency_key(event.call_sid), event.call_sid, KIND, event.at, event.at, event.at],
    )


def _is_drill(db: Database, call_sid: str) -> bool:
    """Issue 15: a drill's call (`voiceconsole drill`) is practice, never handed to a CRM."""
    row = db.execute("SELECT drill FROM calls WHERE call_sid = ?", [call_sid]).fetchone()
    return bool(row and row[0])


class Outbox:
    """Blocking access to the outbox (and the stored call a body is built from)."""

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self._db: Database | None = None
        self._lock = threading.Lock()

    def _conn(self) -> Database:
        if self._db is None:
            self._db = open_db(self.db_path, check_same_thread=False)
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the worker's side ------------------------------------------------------------------

    def claim_due(self, now: float, lease_s: float, limit: int) -> list[Delivery]:
        """Pending rows due by `now`, each with its attempt counted and its next attempt pushed
        `lease_s` ahead in the same transaction: a process killed mid-attempt finds the row due
        again after that, and a second look before then does not send it twice."""
        with self._lock:
            db = self._conn()
            with _transaction(db):
                due = db.query(
                    f"""SELECT * FROM {TABLE} WHERE status = 'pending' AND next_attempt_at <= ?
                        ORDER BY next_attempt_at, id LIMIT ?""", [now, limit])
                rows = [Delivery.from_row({**row, "attempts": row["attempts"] + 1}) for row in due]
                for row in rows:
                    db.execute(f"""UPDATE {TABLE} SET attempts = ?, next_attempt_at = ?,
                                   updated = ? WHERE id = ?""",
                               [row.attempts, now + lease_s, now, row.id])
            return rows

    def next_due(self) -> tuple[float | None, int]:
        """When the earliest pending delivery is due (epoch seconds, or None), and how many are
        dead-lettered (one read: the worker asks each time it goes to sleep)."""
        with self._lock:
            row = self._conn().execute(
                f"""SELECT MIN(next_attempt_at) FILTER (WHERE status = 'pending'),
                           COUNT(*) FILTER (WHERE status = 'dead') FROM {TABLE}""").fetchone()
        return row[0], int(row[1])

    def freeze_body(self, row_id: int, body: str) -> str:
        """Keep `body` for this delivery unless one was kept already; returns the kept one."""
        with self._lock:
            db = self._conn()
            with _transaction(db):
                db.execute(f"UPDATE {TABLE} SET body = ? WHERE id = ? AND body IS NULL",
                           [body, row_id])
                row = db.execute(f"SELECT body FROM {TABLE} WHERE id = ?", [row_id]).fetchone()
        kept: str = row[0]  # the column is TEXT, and set by now
        return kept

    def stored_call(self, call_sid: str) -> CallDetail | None:
        """The call as stored (redacted where the profile says so), turns, events and metrics."""
        from console.storage.repository import CallRepository

        with CallRepository(self.db_path) as repo:
            return repo.get_call(call_sid)

    def delivered(self, row_id: int, status: int, now: float) -> None:
        self._update(row_id, status="delivered", last_status=status, last_error=None,
                     delivered_at=now, updated=now)

    def failed(self, row_id: int, error: str, status: int | None, retry_at: float | None,
               now: float) -> None:
        """A failed attempt: retried at `retry_at`, or dead-lettered when that is None."""
        if retry_at is None:
            self._update(row_id, status="dead", last_error=error, last_status=status, updated=now)
        else:
            self._update(row_id, last_error=error, last_status=status, next_attempt_at=retry_at,
                         updated=now)

    def _update(self, row_id: int, **values: object) -> None:
        columns = ", ".join(f"{name} = ?" for name in values)
        with self._lock:
            db = self._conn()
            with _transaction(db):
                db.execute(f"UPDATE {TABLE} SET {columns} WHERE id = ?", [*values.values(), row_id])

    # -- the operator's side ----------------------------------------------------------------

    def list_deliveries(self, statuses: tuple[str, ...] = STATUSES,
                        limit: int = 200) -> list[Delivery]:
        """Newest first, without the body (it can be large)."""
        marks = ", ".join("?" for _ in statuses)
        sql = f"""SELECT id, idempotency_key, call_sid, kind, status, attempts, next_attempt_at,
                         last_error, last_status, created, updated, delivered_at
                  FROM {TABLE} WHERE status IN ({marks}) ORDER BY id DESC LIMIT ?"""
        with self._lock:
            return [Delivery.from_row(row) for row in self._conn().query(sql, [*statuses, limit])]

    def retry(self, row_id: int, now: float | None = None) -> bool:
        """Put a dead (or pending) delivery back in the queue, due now, with a fresh count of
        attempts. The frozen body is kept: the receiver gets the same bytes and the same key.
        False when there is no such row, or it was delivered already."""
        now = time.time() if now is None else now
        with self._lock:
            db = self._conn()
            with _transaction(db):
                cursor = db.execute(
                    f"""UPDATE {TABLE} SET status = 'pending', attempts = 0, next_attempt_at = ?,
                            updated = ? WHERE id = ? AND status != 'delivered'""",
                    [now, now, row_id])
        return cursor.rowcount == 1


@contextmanager
def _transaction(db: Database) -> Iterator[None]:
    """IMMEDIATE: the write lock is taken up front, so a read-then-write cannot be overtaken."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise
