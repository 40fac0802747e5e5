"""Operator corrections to what a call came to (summary, disposition, fields), audited.

An edit is a `SummaryEdited` event per changed item: the store's row writer applies it to the
call and keeps it in the events table (who, when, what, old, new), like every other event. A
running console hands them to its StoreWriter on the bus (one writer per database); the CLI,
with no writer of its own, writes them in one transaction of its own (`write_edits`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from console.events import SummaryEdited
from console.storage.db import open_db, write_event
from console.storage.records import CallRecord

EDITABLE = ("summary", "disposition")
_FIELD_ITEM = re.compile(r"^fields\.[a-z][a-z0-9_]{0,31}$")
MAX_EDIT_CHARS = 2000  # a summary is three sentences; this is room, not a target


class InvalidEdit(ValueError):
    """An edit that names no editable item, or leaves a call without a disposition."""


def summary_edits(call: CallRecord, changes: Mapping[str, str],
                  actor: str) -> list[SummaryEdited]:
    """One event per item whose value changes, in the order given. Raises InvalidEdit."""
    edits = []
    for item, value in changes.items():
        new = " ".join(str(value).split())[:MAX_EDIT_CHARS]
        old = current_value(call, item)
        if item == "disposition" and not new:
            raise InvalidEdit("a call keeps a disposition: choose one, do not clear it")
        if new != old:
            edits.append(SummaryEdited(call.call_sid, item=item, old=old, new=new,
                                       actor=actor))
    return edits


def current_value(call: CallRecord, item: str) -> str:
    if item == "summary":
        return call.summary or ""
    if item == "disposition":
        return call.disposition or ""
    if _FIELD_ITEM.match(item):
        return str(call.fields.get(item.removeprefix("fields."), ""))
    raise InvalidEdit(f"{item!r} cannot be edited (summary, disposition or fields.NAME)")


def write_edits(db_path: Path | str, edits: list[SummaryEdited]) -> None:
    """Apply and audit `edits` in one transaction on a connection of our own. Blocking."""
    db = open_db(db_path)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            for edit in edits:
                write_event(db, edit)
            db.execute("COMMIT")
        except BaseException:
            db.rollback()
            raise
    finally:
        db.close()
