"""Drill reports in the call store (issue 15, part 5): one row per drill, its whole report as
JSON, and the figures `voiceconsole drill --history` lists. Every function blocks: async callers
run it in a thread. A drill is written by the drill command's own short transaction; SQLite's
busy wait covers the moments the running console's store writer holds the lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console.storage.db import DRILLS_TABLE, open_db
from console.storage.records import DrillSummary

LISTED = ("drill_id", "started", "ended", "score", "misses", "scenarios", "operator")


def save_drill(db_path: Path | str, report: dict[str, Any]) -> None:
    """Store `report` (DrillReport.to_dict()); a drill stored again replaces its row."""
    row = {"drill_id": report["drill_id"], "started": report["started"],
           "ended": report["ended"], "score": report.get("score"),
           "misses": report.get("misses", 0), "scenarios": len(report.get("results", ())),
           "operator": ", ".join(report.get("operators", ())),
           "report": json.dumps(report, ensure_ascii=False)}
    db = open_db(db_path)
    try:
        with db.conn:
            db.table(DRILLS_TABLE).insert(row, replace=True)
    finally:
        db.close()


def list_drills(db_path: Path | str, limit: int = 20) -> list[DrillSummary]:
    """The latest drills first, without their reports. No store yet: none (none is made)."""
    if not Path(db_path).exists():
        return []
    db = open_db(db_path)
    try:
        return [DrillSummary.from_row(row) for row in db.query(
            f"SELECT {', '.join(LISTED)} FROM {DRILLS_TABLE} ORDER BY started DESC LIMIT ?",
            [limit])]
    finally:
        db.close()


def get_drill(db_path: Path | str, drill_id: str) -> dict[str, Any] | None:
    """One drill's whole report, as it was stored; None if there is no such drill."""
    if not Path(db_path).exists():
        return None
    db = open_db(db_path)
    try:
        row = db.execute(f"SELECT report FROM {DRILLS_TABLE} WHERE drill_id = ?",
                         [drill_id]).fetchone()
    finally:
        db.close()
    return json.loads(row[0]) if row else None
