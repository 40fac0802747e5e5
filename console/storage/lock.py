"""One voiceconsole per data folder.

Two processes on one folder share the call store and the admin file: the second marks the
first's live calls `interrupted` at start-up and removes its admin file on exit. So `console`,
`serve` and `demo` each hold an exclusive `flock` on `voiceconsole.lock` in the folder for as long
as they live. The kernel releases it when the process dies, however it dies, so a crash never
leaves a stale lock behind. The file says who holds it (pid, command, since when), so the
refusal can name the process to stop.

The file itself is never removed: unlinking a lock file lets a process that opened the old file
and one that creates a new one both "hold" the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from console.storage.files import FILE_MODE, private_folder, tighten

LOCK_FILE_NAME = "voiceconsole.lock"


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    since: float

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} ({self.command}), running since {since}"


class FolderInUse(Exception):
    """Another process holds the folder; the message names it and says what to do."""

    def __init__(self, folder: Path, holder: Holder | None) -> None:
        who = holder.describe() if holder else "another process (it has not said which yet)"
        super().__init__(
            f"the data folder {folder} is in use by {who}. Stop that one first, or give this "
            "one a folder of its own (VOICECONSOLE_DATA_DB)."
        )
        self.folder = folder
        self.holder = holder


class DataFolderLock:
    """`with DataFolderLock(folder):` holds the folder until the block ends or the process dies.
    Raises FolderInUse when another process holds it."""

    def __init__(self, folder: Path | str, command: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE_NAME
        self.command = command or _this_command()
        self._fd: int | None = None

    def acquire(self) -> Self:
        if self._fd is not None:
            return self  # already ours (`with lock.acquire():`)
        private_folder(self.folder)
        # No O_TRUNC: until we hold the lock, the file speaks for whoever does.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderInUse(self.folder, holder) from None
        tighten(self.path, FILE_MODE)
        self._fd = fd
        _write_holder(fd, Holder(os.getpid(), self.command, time.time()))
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)  # nobody holds it now; the next holder writes its own line
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def _this_command() -> str:
    # `python -m console.cli serve` and the `voiceconsole` script both read as the command typed.
    return " ".join(["voiceconsole", *sys.argv[1:]])[:200]


def _write_holder(fd: int, holder: Holder) -> None:
    body = json.dumps({"pid": holder.pid, "command": holder.command, "since": holder.since})
    os.ftruncate(fd, 0)
    os.pwrite(fd, body.encode() + b"\n", 0)


def _read_holder(fd: int) -> Holder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Holder(int(data["pid"]), str(data["command"]), float(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # empty (released, or the holder has not written yet) or not ours
