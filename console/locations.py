"""Where voiceconsole keeps things on disk. Nothing here touches the disk at import time.

The folder that holds the database is that instance's data folder: its lock, its admin file
(`voiceconsole control`), its logs and its exports live beside the database, so two instances
with two folders share nothing, and one folder has one instance at a time (storage/lock.py).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEMO_FOLDER_NAME = "demo"


def data_dir() -> Path:
    """Runtime state: the call database, recordings and editable profiles."""
    return PROJECT_DIR / "data"


def default_db_path() -> Path:
    return data_dir() / "voiceconsole.db"


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


def profiles_dir() -> Path:
    """Editable profile files; the operator changes prompts here without touching code."""
    return data_dir() / "profiles"


def bundled_profiles_dir() -> Path:
    """Profiles shipped inside the package, used when data/profiles is missing."""
    return PACKAGE_DIR / "profiles"
