"""The read side of the call store: history lists, one call in full, and exports.

A CallRepository owns its own connection and never writes rows. Every method blocks, so async
callers (the TUI's history screen) run them with `asyncio.to_thread`; a lock serialises them,
because the default executor may run two calls on two different threads.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import IO

from sqlite_utils import Database

from console.safe_text import spreadsheet_safe
from console.storage.db import open_db
from console.storage.files import private_folder
from console.storage.records import CallDetail, CallRecord, StoredEvent, TurnMetrics, TurnRecord

CSV_COLUMNS = (
    "call_sid",
    "started",
    "ended",
    "duration",
    "from_number",
    "to_number",
    "profile",
    "status",
    "end_reason",
    "emergency",
    "turn_count",
    # After the call (issue 14): what it came to. Free text, so neutralized like every cell.
    "disposition",
    "summary",
)

_LIST_SQL = """
SELECT calls.*,
       (SELECT COUNT(*) FROM turns WHERE turns.call_sid = calls.call_sid) AS turn_count,
       CASE WHEN calls.ended IS NULL THEN NULL ELSE calls.ended - calls.started END AS duration
FROM calls
{where}
ORDER BY calls.started DESC, calls.call_sid
{limit}
"""

# Words said in the call (full-text, any order) or a fragment of the SID or either number.
_FTS_SQL = """calls.call_sid IN (
    SELECT turns.call_sid FROM turns_fts JOIN turns ON turns.id = turns_fts.rowid
    WHERE turns_fts MATCH :fts)"""
_LIKE_SQL = """(calls.call_sid LIKE :like OR calls.from_number LIKE :like
    OR calls.to_number LIKE :like)"""


class CallRepository:
    """Read-only queries over the call store at `db_path` (created empty if missing)."""

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self._db: Database = open_db(self.db_path, check_same_thread=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CallRepository:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def list_calls(
        self,
        limit: int | None = 50,
        offset: int = 0,
        search: str | None = None,
        *,
        profile: str | None = None,
        emergency: bool | None = None,
        since: float | None = None,
        disposition: str | None = None,
    ) -> list[CallRecord]:
        """Calls newest first, each with `turn_count` and `duration` (seconds, None while live).
        `search` matches words from any turn, or part of the SID or a phone number; `offset`
        skips that many for paging. (limit, offset, search) match the TUI's HistorySource."""
        clauses, params = _filters(self._db, search, profile, emergency, since)
        if disposition:
            clauses.append("calls.disposition = :disposition")
            params["disposition"] = disposition
        sql = _LIST_SQL.format(
            where=f"WHERE {' AND '.join(clauses)}" if clauses else "",
            limit="LIMIT :limit OFFSET :offset",
        )
        params.update(limit=-1 if limit is None else limit, offset=offset)  # -1: no limit
        with self._lock:
            return [CallRecord.from_row(row) for row in self._db.query(sql, params)]

    def get_call(self, call_sid: str) -> CallDetail | None:
        """One call with its `turns` (in order), `events` (decoded where they still fit their
        type) and `metrics` (by turn). None if unknown."""
        with self._lock:
            return self._get_call(call_sid)

    def export_calls_json(self, path: Path | str, call_sids: Iterable[str] | None = None) -> int:
        """Write the given calls (all when None) in full, as one JSON array. Returns the count."""
        with self._lock:
            calls = [self._get_call(sid) for sid in self._sids(call_sids)]
        found = [call.to_json() for call in calls if call is not None]
        with _atomic_file(Path(path)) as out:
            json.dump(found, out, indent=2, ensure_ascii=False)
        return len(found)

    def export_calls_csv(self, path: Path | str, call_sids: Iterable[str] | None = None) -> int:
        """Write one summary row per call (all when None), newest first. Returns the count."""
        rows = self.list_calls(limit=None)
        if call_sids is not None:
            wanted = set(call_sids)
            rows = [row for row in rows if row.call_sid in wanted]
        with _atomic_file(Path(path)) as out:
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            # A caller's "number" may be =HYPERLINK(...): a cell is shown, never run.
            writer.writerows({k: spreadsheet_safe(v) for k, v in row.to_json().items()}
                             for row in rows)
        return len(rows)

    # -- under the lock --------------------------------------------------------------------

    def _get_call(self, call_sid: str) -> CallDetail | None:
        rows = list(
            self._db.query(_LIST_SQL.format(where="WHERE calls.call_sid = ?", limit=""), [call_sid])
        )
        if not rows:
            return None
        call = CallDetail.from_row(rows[0])
        return dataclasses.replace(call, turns=self._turns(call_sid),
                                   events=self._events(call_sid), metrics=self._metrics(call_sid))

    def _turns(self, call_sid: str) -> tuple[TurnRecord, ...]:
        sql = "SELECT * FROM turns WHERE call_sid = ? ORDER BY idx"
        return tuple(TurnRecord.from_row(row) for row in self._db.query(sql, [call_sid]))

    def _events(self, call_sid: str) -> tuple[StoredEvent, ...]:
        sql = "SELECT id, kind, payload, at FROM events WHERE call_sid = ? ORDER BY at, id"
        return tuple(StoredEvent.from_row(call_sid, row) for row in self._db.query(sql, [call_sid]))

    def _metrics(self, call_sid: str) -> tuple[TurnMetrics, ...]:
        sql = "SELECT turn, stage, ms FROM metrics WHERE call_sid = ? ORDER BY turn, id"
        grouped: dict[int, dict[str, float]] = {}
        for row in self._db.query(sql, [call_sid]):
            grouped.setdefault(row["turn"], {})[row["stage"]] = row["ms"]
        return tuple(TurnMetrics(turn, MappingProxyType(stages))
                     for turn, stages in grouped.items())

    def _sids(self, call_sids: Iterable[str] | None) -> Sequence[str]:
        if call_sids is not None:
            return list(call_sids)
        sql = "SELECT call_sid FROM calls ORDER BY started DESC, call_sid"
        return [row["call_sid"] for row in self._db.query(sql)]


def _filters(
    db: Database,
    search: str | None,
    profile: str | None,
    emergency: bool | None,
    since: float | None,
) -> tuple[list[str], dict[str, object]]:
    clauses: list[str] = []
    params: dict[str, object] = {}
    if search and search.strip():
        clauses.append(_search_clause(db, search.strip(), params))
    if profile:
        clauses.append("calls.profile = :profile")
        params["profile"] = profile
    if emergency is not None:
        clauses.append("calls.emergency = :emergency")
        params["emergency"] = int(emergency)
    if since is not None:
        clauses.append("calls.started >= :since")
        params["since"] = since
    return clauses, params


def _search_clause(db: Database, search: str, params: dict[str, object]) -> str:
    params["like"] = f"%{search}%"
    # The operator types words, not FTS syntax: quote each one; a lone '"' leaves no words.
    words = db.quote_fts(search.replace('"', " ").strip())
    if not words:
        return _LIKE_SQL
    params["fts"] = words
    return f"({_FTS_SQL} OR {_LIKE_SQL})"


@contextmanager
def _atomic_file(path: Path) -> Iterator[IO[str]]:
    """Write beside `path`, then rename: a reader never sees half an export. mkstemp makes
    the file 0600, and the folder is kept private too (files.py)."""
    private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
