"""Where voiceconsole keeps things on disk. Nothing here touches the disk at import time."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def data_dir() -> Path:
    """Runtime state: the call database, recordings and editable profiles."""
    return PROJECT_DIR / "data"


def default_db_path() -> Path:
    return data_dir() / "voiceconsole.db"


def profiles_dir() -> Path:
    """Editable profile files; the operator changes prompts here without touching code."""
    return data_dir() / "profiles"


def bundled_profiles_dir() -> Path:
    """Profiles shipped inside the package, used when data/profiles is missing."""
    return PACKAGE_DIR / "profiles"
