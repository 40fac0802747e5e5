"""Where state lives: VOICECONSOLE_DATA_DIR, else a source checkout's data/, else XDG."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import locations
from console.config import load_settings


@pytest.fixture(autouse=True)
def _no_data_dir_set(monkeypatch):
    monkeypatch.delenv(locations.DATA_DIR_VARIABLE, raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)


def _package_root(monkeypatch, folder: Path) -> None:
    """Where the package's parent is: a checkout, or site-packages for a wheel."""
    monkeypatch.setattr(locations, "PROJECT_DIR", folder)


def test_voiceconsole_data_dir_holds_the_database_recordings_and_profiles(monkeypatch, tmp_path):
    monkeypatch.setenv(locations.DATA_DIR_VARIABLE, str(tmp_path / "state"))
    settings = load_settings(_env_file=None)
    assert settings.data.dir == tmp_path / "state"
    assert settings.data.db == tmp_path / "state" / "voiceconsole.db"
    assert settings.recordings_folder() == tmp_path / "state" / "recordings"
    assert locations.profiles_dir() == tmp_path / "state" / "profiles"


def test_a_source_checkout_keeps_its_state_in_its_own_data_folder(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "voiceconsole"\n')
    _package_root(monkeypatch, tmp_path)
    assert locations.data_dir() == tmp_path / "data"
    assert load_settings(_env_file=None).data.db == tmp_path / "data" / "voiceconsole.db"


def test_an_installed_package_keeps_its_state_in_the_xdg_data_folder(monkeypatch, tmp_path):
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    _package_root(monkeypatch, site_packages)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert locations.data_dir() == tmp_path / "xdg" / "voiceconsole"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert locations.data_dir() == tmp_path / "home" / ".local" / "share" / "voiceconsole"
    assert not (site_packages / "data").exists()


def test_someone_elses_pyproject_beside_the_package_is_not_our_checkout(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "another-app"\n')
    _package_root(monkeypatch, tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert locations.data_dir() == tmp_path / "xdg" / "voiceconsole"
