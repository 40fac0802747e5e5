"""Private files: everything voiceconsole keeps on disk is readable by its own user only.

The call store holds what callers said (the medical profile takes health details), the logs
quote it, and exports copy it. So the data folder and every folder under it are 0700 and each
file is 0600, made so at creation (never a moment at the umask's 0644) and tightened when an
older install left them open. SQLite creates its -wal and -shm files with the database file's own
mode, so a private database keeps its companions private too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO


# What voiceconsole keeps in its data folder: a folder holding nothing else is its own.
OUR_NAMES = frozenset({"voiceconsole.lock", "admin.json", "logs", "exports", "demo", "profiles",
                       "recordings",
                       "README.md", ".gitignore"})
OUR_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal")


def private_folder(path: Path | str) -> Path:
    """Create `path` (and missing parents) 0700, or tighten it when it exists, is open to
    others, and is ours: nothing in it but what voiceconsole keeps there. A folder the user
    shares with other things (VOICECONSOLE_DB=~/calls.db puts the store in their home) is only
    reported: its mode is theirs to choose, and our files inside are 0600 anyway. Parents that
    already existed are left as they are."""
    path = Path(path)
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    if _ours(path):
        tighten(path, FOLDER_MODE)
    elif stat.S_IMODE(path.stat().st_mode) & _OPEN_TO_OTHERS:
        log.warning("%s is shared with other files and open to other users: voiceconsole's "
                    "files in it are private, but a folder of their own is safer", path)
    return path


def _ours(folder: Path) -> bool:
    return all(entry.name in OUR_NAMES or entry.name.endswith(OUR_SUFFIXES)
               for entry in folder.iterdir())


def private_file(path: Path | str) -> Path:
    """Create `path` empty and 0600 if it is missing (its content is left alone otherwise), and
    tighten it when it is open to others."""
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    if path.is_file():  # not a folder or a device someone put in its place: that error is SQLite's
        tighten(path, FILE_MODE)
    return path


def tighten(path: Path | str, mode: int) -> None:
    """chmod `path` to `mode` if group or others have any access. A missing file is fine, and
    a file we do not own (a reader run by another user) is only reported."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if not current & _OPEN_TO_OTHERS:
        return
    try:
        os.chmod(path, mode)
    except OSError as error:
        log.warning("%s is open to other users (%o) and could not be made private: %s",
                    path, current, error)
        return
    log.info("%s was open to other users (%o); now %o", path, current, mode)


def private_database(path: Path | str) -> Path:
    """The call store's file, its folder and its SQLite companions, before SQLite opens it."""
    path = Path(path)
    private_folder(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(f"{path}{suffix}", FILE_MODE)
    return path
