"""The rings of DESIGN.md, enforced: the call, wire and edge code never drag in the TUI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module",
    ["console.calls.session", "console.telephony.server", "console.storage.writer",
     "console.runtime"],
)
def test_importing_the_core_leaves_textual_unloaded(module):
    code = f"import sys, {module}; print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_connects_or_opens_files_at_import(tmp_path):
    """Importing the whole package must not create the database or any data file."""
    code = ("import console.cli, console.runtime, console.demo; "
            "from console.config import load_settings; load_settings()")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True,
                   env={"VOICECONSOLE_DB": str(tmp_path / "x.db"), "PATH": "/usr/bin:/bin"})
    assert not (tmp_path / "x.db").exists()
