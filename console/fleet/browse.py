"""The fleet's history as a console browses it: the SQLite store the recorder fills (the same
data folder, `data.db`), opened on first use.

The same idea as the runtime's LazyHistory (which a service may not import): the console's
thread workers make the first call, so building a backend touches no file. An operator's edit
of a past call is written in its own transaction (the recorder writes the live events through
its own writer; SQLite serializes the two).
"""

from __future__ import annotations

import threading
from pathlib import Path

from console import events as ev
from console.storage.edits import summary_edits, write_edits
from console.storage.records import CallDetail, CallRecord
from console.storage.repository import CallRepository


class FleetHistory:
    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self.exports_dir = db_path.parent / "exports"
        self._repository: CallRepository | None = None
        self._lock = threading.Lock()  # two thread workers may make the first call at once

    def _open(self) -> CallRepository:
        with self._lock:
            if self._repository is None:
                self._repository = CallRepository(self._db_path)
            return self._repository

    def list_calls(self, limit: int | None = 50, offset: int = 0, search: str | None = None,
                   *, profile: str | None = None, emergency: bool | None = None,
                   since: float | None = None, disposition: str | None = None
                   ) -> list[CallRecord]:
        return self._open().list_calls(limit, offset, search, profile=profile,
                                       emergency=emergency, since=since, disposition=disposition)

    def get_call(self, call_sid: str) -> CallDetail | None:
        return self._open().get_call(call_sid)

    def export_calls_json(self, path: Path, call_sids: list[str] | None = None) -> int:
        return self._open().export_calls_json(path, call_sids)

    def export_calls_csv(self, path: Path, call_sids: list[str] | None = None) -> int:
        return self._open().export_calls_csv(path, call_sids)

    def edit_call(self, call_sid: str, changes: dict[str, str], actor: str
                  ) -> list[ev.SummaryEdited]:
        """As LazyHistory.edit_call: stored and audited; LookupError for an unknown call."""
        call = self.get_call(call_sid)
        if call is None:
            raise LookupError(f"no call {call_sid}")
        edits = summary_edits(call, changes, actor)
        if edits:
            write_edits(self._db_path, edits)
        return edits
