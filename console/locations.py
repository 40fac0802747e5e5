"""Where voiceconsole keeps things on disk. Nothing here touches the disk at import time.

The folder that holds the database is that instance's data folder: its lock, its admin file
(`voiceconsole control`), its logs and its exports live beside the database, so two instances
with two folders share nothing, and one folder has one instance at a time (storage/lock.py).
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
PROJECT_NAME = "voiceconsole"
DATA_DIR_VARIABLE = "VOICECONSOLE_DATA_DIR"
DEMO_FOLDER_NAME = "demo"


def data_dir() -> Path:
    """Runtime state: the call database, recordings and the operator's profiles.

    `VOICECONSOLE_DATA_DIR` when set; else the checkout's data/ when run from a source checkout;
    else the XDG data directory. An installed wheel has no data/ of its own: next to the package
    is site-packages, which is neither ours nor, often, writable."""
    if configured := os.environ.get(DATA_DIR_VARIABLE, "").strip():
        return Path(configured).expanduser()
    if is_source_checkout(PROJECT_DIR):
        return PROJECT_DIR / "data"
    return xdg_data_dir()


def is_source_checkout(folder: Path) -> bool:
    """A checkout of this project: its pyproject.toml names it (site-packages has none)."""
    try:
        info = (folder / "pyproject.toml").stat()
    except OSError:
        return False
    return _names_this_project(folder / "pyproject.toml", info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=16)
def _names_this_project(pyproject: Path, size: int, modified_ns: int) -> bool:
    """Parsed once per version of the file (its size and time are in the key): data_dir() is
    asked on every call start, and parsing pyproject.toml each time cost a busy worker ~1 % of
    its core at 90 calls."""
    try:
        with pyproject.open("rb") as file:
            project = tomllib.load(file).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return isinstance(project, dict) and project.get("name") == PROJECT_NAME


def xdg_data_dir() -> Path:
    """$XDG_DATA_HOME/voiceconsole, the XDG default being ~/.local/share (basedir spec: a
    relative XDG_DATA_HOME is invalid and ignored)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / PROJECT_NAME


def default_db_path(folder: Path | None = None) -> Path:
    """The database in the data folder `folder` (default: `data_dir()`)."""
    return (folder or data_dir()) / "voiceconsole.db"


def data_folder(db_path: Path) -> Path:
    """The data folder of the instance whose database is `db_path`."""
    return Path(db_path).parent


def log_path(db_path: Path) -> Path:
    """The console's log file, in its instance's data folder."""
    return data_folder(db_path) / "logs" / "console.log"


def recordings_dir(db_path: Path) -> Path:
    """Call recordings (one stereo WAV per call), in their instance's data folder."""
    return data_folder(db_path) / "recordings"


def demo_db_path(db_path: Path) -> Path:
    """The demo's own database, in a sub-folder of the main data folder: a demo started beside a
    running console must not touch that console's calls or admin file."""
    return data_folder(db_path) / DEMO_FOLDER_NAME / "demo.db"


def profiles_dir(folder: Path | None = None) -> Path:
    """Editable profile files in the data folder `folder` (default: `data_dir()`); the operator
    changes prompts here without touching code."""
    return (folder or data_dir()) / "profiles"


def bundled_profiles_dir() -> Path:
    """Profiles shipped inside the package, used when data/profiles is missing."""
    return PACKAGE_DIR / "profiles"
