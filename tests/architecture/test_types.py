"""The seams are typed, and a type checker holds them: `mypy --strict` over the package and the
test helpers (the `[tool.mypy]` table in pyproject.toml says which files) finds nothing.

The check runs inside the parallel test run, on one worker: cold (a clean clone, no cache) it
takes about a minute of that worker's time; with the `.mypy_cache` of an earlier run, seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# `# type: ignore[code]  # why`: the error code, then the reason it cannot be fixed here.
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def _mypy_config() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config: dict[str, object] = tomllib.load(file)["tool"]["mypy"]
    return config


def _checked_files() -> list[Path]:
    files = _mypy_config()["files"]
    assert isinstance(files, list)
    found: list[Path] = []
    for name in files:
        path = ROOT / name
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def unexplained_ignores(path: Path, root: Path = ROOT) -> list[str]:
    """`type: ignore` comments without an error code or without a reason after it."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = IGNORE.search(line)
        if match is None:
            continue
        reason = match["rest"].strip().lstrip("#").strip()
        if not match["codes"] or not reason:
            found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


@pytest.mark.timeout(300)  # cold (no cache) it takes ~30 s; a busy machine may need more
@pytest.mark.long
def test_mypy_strict_finds_no_error_in_the_package_or_the_test_helpers():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".mypy_cache")],
        capture_output=True, text=True, cwd=ROOT, timeout=290,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_type_check_is_strict_and_silences_nothing_wholesale():
    config = _mypy_config()
    assert config["strict"] is True
    assert "ignore_errors" not in config and "ignore_missing_imports" not in config
    overrides = config.get("overrides", [])
    assert isinstance(overrides, list)
    for override in overrides:
        assert "ignore_errors" not in override, override
        modules = override["module"] if isinstance(override["module"], list) else [
            override["module"]]
        # Only third-party packages may be let in untyped: never a module of ours.
        assert not [m for m in modules if m.split(".")[0] in ("console", "tests")], override


def test_every_type_ignore_names_its_error_and_says_why():
    found = [line for path in _checked_files() for line in unexplained_ignores(path)]
    assert found == []


def test_the_ignore_check_catches_a_bare_or_unexplained_ignore(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("a = f()  # type: ignore\n"
                      "b = g()  # type: ignore[arg-type]\n"
                      "c = h()  # type: ignore[arg-type]  # the SDK's stub is wrong\n",
                      encoding="utf-8")
    assert unexplained_ignores(module, tmp_path) == ["m.py:1: a = f()  # type: ignore",
                                                     "m.py:2: b = g()  # type: ignore[arg-type]"]
