"""Recordings older than RECORDING_RETENTION_DAYS are deleted: at start-up and once a day.

A file's age is its modification time, which is when the call's last block was written (the
call's end), so a recording is kept for the whole period after its call, however long the call.
Blocking (it lists and deletes files): run it in a worker thread.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

DAY_S = 86_400


def purge(folder: Path, days: int, now: float | None = None) -> list[Path]:
    """Delete the recordings in `folder` last written more than `days` ago; returns them.
    `days` 0 keeps everything."""
    if days <= 0 or not folder.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - days * DAY_S
    removed = [path for path in sorted(folder.glob("*.wav")) if _delete_if_older(path, cutoff)]
    if removed:
        log.info("deleted %d recording(s) older than %d days from %s", len(removed), days, folder)
    return removed


def _delete_if_older(path: Path, cutoff: float) -> bool:
    try:
        if path.stat().st_mtime >= cutoff:
            return False
        path.unlink()
    except FileNotFoundError:  # deleted by someone else meanwhile: the goal is met
        return False
    except OSError as error:
        log.warning("could not delete the old recording %s: %s", path, error)
        return False
    return True
