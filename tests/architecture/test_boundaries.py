"""The boundaries of docs/architecture.md, enforced: no module below the faces drags in Textual,
a model or a sound device; the import contracts hold; nothing connects at import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# The faces may load Textual (and the devices and models a person at the console asks for); every
# other module is imported by `serve`, the tests and the benches, and must load none of them.
FACES = ("console.cli", "console.commands", "console.tui", "console.demo")
# Loaded only when used: Textual (the console), the local models (seconds and hundreds of MB)
# and PortAudio (sounddevice initialises it on import, and it may hang on a headless machine).
HEAVY = ("textual", "faster_whisper", "piper", "sounddevice")
# One interpreter imports every module in turn and blames the first whose import loaded a heavy
# one: a process per module would take minutes.
_IMPORT_EACH = """
import importlib, sys
heavy = {heavy!r}
for name in {modules!r}:
    before = {{h for h in heavy if h in sys.modules}}
    importlib.import_module(name)
    for h in heavy:
        if h in sys.modules and h not in before:
            print(name, "loads", h)
"""


def non_face_modules() -> list[str]:
    """Every module of console (from the files, not a list kept by hand) but the faces."""
    names = []
    for path in sorted((ROOT / "console").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if not any(name == face or name.startswith(face + ".") for face in FACES):
            names.append(name)
    return names


def test_importing_any_module_but_the_faces_loads_no_textual_model_or_sound_device():
    modules = non_face_modules()
    assert {"console.calls.session", "console.runtime", "console.storage.writer"} <= set(modules)
    code = _IMPORT_EACH.format(heavy=HEAVY, modules=modules)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout == "", result.stdout


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
