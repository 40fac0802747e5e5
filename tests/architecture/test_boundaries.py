"""The rings of DESIGN.md, enforced: the call, wire and edge code never drag in the TUI."""

from __future__ import annotations

import ast
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
                   env={"VOICECONSOLE_DATA_DB": str(tmp_path / "x.db"), "PATH": "/usr/bin:/bin"})
    assert not (tmp_path / "x.db").exists()


def _foreign_private_uses(path: Path) -> list[str]:
    """`other._name` in a module: a private member reached through anything but self or cls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") or (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            continue
        found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return found


def test_the_call_code_never_reaches_into_another_objects_private_members():
    """The parts of a call talk through public methods and small Protocols, so a part can be
    read, tested and replaced on its own."""
    uses = [use for path in sorted((ROOT / "console" / "calls").glob("*.py"))
            for use in _foreign_private_uses(path)]
    assert uses == []


def test_the_private_member_check_catches_a_reach_in(tmp_path):
    module = tmp_path / "reach.py"
    module.write_text("def f(session):\n    return session._publish\n", encoding="utf-8")
    assert _foreign_private_uses(module) == ["reach.py:2 session._publish"]
