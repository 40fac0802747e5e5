"""What the recorder needs of the call store beyond the events themselves (issue 17).

In a fleet, every event reaches the recorder as a stream entry with its own id (console/fleet/
wire.py), and an entry can be delivered twice: a recorder killed after committing its rows but
before acknowledging them reads them again when it restarts. The id is kept on the event's row
(`events.fleet_id`, unique where set: db.py's migration), checked in the transaction that writes
the rows, so each id is stored once. A single process's rows carry NULL.
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from console.storage.db import open_db


def already_stored(db: Database, fleet_id: str) -> bool:
    """Whether the event with this id is in the store (inside the writer's transaction)."""
    row = db.execute("SELECT 1 FROM events WHERE fleet_id = ? LIMIT 1", [fleet_id]).fetchone()
    return row is not None


def live_calls(db_path: Path) -> list[str]:
    """Blocking, on its own connection: the calls the store still holds as live (the recorder
    asks the fleet whether anyone runs them before calling them interrupted)."""
    db = open_db(db_path)
    try:
        rows = db.execute("SELECT call_sid FROM calls WHERE status = 'live' ORDER BY started")
        return [str(row[0]) for row in rows.fetchall()]
    finally:
        db.close()
