"""Past calls for a console, opened on first use: the console's thread workers make the first
call, so building a backend (the runtime, or a fleet console) touches no file. Every method is
BLOCKING database or file work: call it from a thread worker, never on the event loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from console import events as ev
from console.storage.edits import summary_edits, write_edits
from console.storage.records import CallDetail, CallRecord
from console.storage.repository import CallRepository


class LazyHistory:
    """`submit`: where an operator's edits go (the runtime hands them to its store writer, so
    they are ordered with the live calls' rows); by default their own transaction (a fleet
    console: the recorder writes live events through its own writer, SQLite serializes the two)."""

    def __init__(self, db_path: Path,
                 submit: Callable[[list[ev.SummaryEdited]], None] | None = None) -> None:
        self._db_path = db_path
        self._submit = submit or partial(write_edits, db_path)
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

    def edit_call(self, call_sid: str, changes: dict[str, str], actor: str
                  ) -> list[ev.SummaryEdited]:
        """An operator's corrections to the call's summary, disposition or fields, stored and
        audited (console.storage.edits); returns the edits made (unchanged items make none).
        Blocking. Raises LookupError for an unknown call, InvalidEdit for a bad item."""
        call = self.get_call(call_sid)
        if call is None:
            raise LookupError(f"no call {call_sid}")
        edits = summary_edits(call, changes, actor)
        if edits:
            self._submit(edits)
        return edits

    def export_calls_csv(self, path: Path, call_sids: list[str] | None = None) -> int:
        return self._open().export_calls_csv(path, call_sids)
