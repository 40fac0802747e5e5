"""What voiceconsole writes to disk (calls, logs, exports, its lock) is readable by its own user
only: files 0600 in 0700 folders, from the moment they exist, and older open ones are tightened.
The log is rotated by size. One data folder has one instance, and a dead one leaves no lock."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.commands.console import _logging_to_file
from console.events import CallStarted
from console.storage.db import open_db, write_event
from console.storage.lock import DataFolderLock, FolderInUse
from console.storage.repository import CallRepository


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common 022 umask, under which a plain open() makes a file 0644 for everyone to read."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _store_a_call(db_path: Path) -> None:
    db = open_db(db_path)
    write_event(db, CallStarted(call_sid="CA1", stream_sid="MZ1", profile="medical_intake"))
    db.conn.commit()
    db.close()


def test_a_new_call_store_and_its_wal_and_shm_are_private_in_a_private_folder(tmp_path):
    data = tmp_path / "data"
    db = open_db(data / "calls.db")  # kept open: the -wal and -shm files exist while it is
    write_event(db, CallStarted(call_sid="CA1", stream_sid="MZ1", profile="medical_intake"))
    db.conn.commit()
    try:
        assert mode(data) == 0o700
        for name in ("calls.db", "calls.db-wal", "calls.db-shm"):
            assert mode(data / name) == 0o600, name
    finally:
        db.close()


def test_an_older_store_left_open_to_others_is_made_private_when_opened(tmp_path):
    data = tmp_path / "data"
    _store_a_call(data / "calls.db")
    for path, open_mode in ((data, 0o755), (data / "calls.db", 0o644)):
        os.chmod(path, open_mode)
    (data / "calls.db-wal").touch(mode=0o644)

    with CallRepository(data / "calls.db") as repo:  # any reader, e.g. `voiceconsole calls`
        assert repo.get_call("CA1") is not None
        assert mode(data) == 0o700
        assert mode(data / "calls.db") == 0o600
        assert mode(data / "calls.db-wal") == 0o600  # (the last connection to close removes it)


def test_exports_are_private_files_in_a_private_folder(tmp_path):
    _store_a_call(tmp_path / "calls.db")
    exports = tmp_path / "exports"
    with CallRepository(tmp_path / "calls.db") as repo:
        repo.export_calls_json(exports / "calls.json")
        repo.export_calls_csv(exports / "calls.csv")
    assert mode(exports) == 0o700
    assert mode(exports / "calls.json") == mode(exports / "calls.csv") == 0o600


def test_the_console_log_is_private_and_rotated_by_size_keeping_the_set_number(tmp_path):
    logs = tmp_path / "logs"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    try:
        with _logging_to_file(logs / "console.log", max_bytes=10_000, backups=2):
            for n in range(400):  # ~40 kB: four files' worth
                logging.getLogger("console.test").info("caller said line %03d %s", n, "x" * 40)
    finally:
        root.setLevel(level)

    assert sorted(p.name for p in logs.iterdir()) == ["console.log", "console.log.1",
                                                       "console.log.2"]
    assert mode(logs) == 0o700
    for path in logs.iterdir():
        assert mode(path) == 0o600, path.name
        assert path.stat().st_size <= 10_000
    assert "line 399" in (logs / "console.log").read_text()  # the newest lines are kept


def test_a_held_data_folder_refuses_a_second_holder_naming_pid_command_and_start(tmp_path):
    with DataFolderLock(tmp_path, command="voiceconsole console"):
        with pytest.raises(FolderInUse) as refused:
            DataFolderLock(tmp_path, command="voiceconsole demo").acquire()
    message = str(refused.value)
    assert f"in use by pid {os.getpid()} (voiceconsole console), running since " in message
    assert mode(tmp_path / "voiceconsole.lock") == 0o600
    with DataFolderLock(tmp_path):  # released at the end of the block: free again
        pass


HOLD_AND_DIE = """
import os, sys
from console.storage.lock import DataFolderLock
DataFolderLock(sys.argv[1]).acquire()
os.kill(os.getpid(), 9)
"""


def test_a_process_that_dies_holding_the_folder_leaves_no_stale_lock(tmp_path):
    died = subprocess.run([sys.executable, "-c", HOLD_AND_DIE, str(tmp_path)], timeout=30)
    assert died.returncode == -9
    assert (tmp_path / "voiceconsole.lock").exists()  # the file stays; the lock went with it
    with DataFolderLock(tmp_path, command="voiceconsole serve") as lock:
        assert lock.path.read_text().startswith(f'{{"pid": {os.getpid()}')


def test_a_folder_shared_with_other_files_is_reported_not_changed(tmp_path, caplog):
    """VOICECONSOLE_DATA_DB=~/calls.db must not make the user's home folder 0700."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / ".bashrc").touch()
    os.chmod(home, 0o755)
    _store_a_call(home / "calls.db")
    assert mode(home) == 0o755
    assert mode(home / "calls.db") == 0o600
    assert "shared with other files" in caplog.text
