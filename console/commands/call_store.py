"""Where the `calls` commands (calls.py, calls_audio.py) find the stored calls, and how they read
them. Its own module so the two command modules share it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from console.storage.repository import CallRepository

T = TypeVar("T")


def store_path() -> Path:
    """The database the settings name (`VOICECONSOLE_DATA_DB`); never created here."""
    from console.config import load_settings

    return Path(load_settings().data.db)


def with_repository(db_path: Path, query: Callable[[CallRepository], T]) -> T:
    """Run `query` on the store at `db_path`, closing it after."""
    # Imported here so that `voiceconsole --help` and other commands never load sqlite-utils.
    from console.storage.repository import CallRepository

    with CallRepository(db_path) as repo:
        return query(repo)
