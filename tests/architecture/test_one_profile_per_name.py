"""One profile per name in the repository. The packaged TOMLs are the only defaults: a second
tracked copy of one (as `data/profiles/` once was) is read in its place, so an edit to either
copy silently diverges from the other."""

from __future__ import annotations

import subprocess
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__"}


def tracked_tomls(root: Path) -> list[Path]:
    """The TOML files git tracks under `root`; outside a git checkout (an unpacked sdist), every
    TOML file in the tree but the virtualenv's."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "*.toml"], cwd=root,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return [path for path in root.rglob("*.toml")
                if not SKIPPED_DIRS & set(path.relative_to(root).parts)]
    return [root / name for name in listed.split("\0") if name and (root / name).is_file()]


def profiles_by_name(paths: list[Path]) -> dict[str, list[Path]]:
    """The agent profiles among `paths` (a TOML with a system prompt and a greeting), by the name
    the loader gives them (the file's stem)."""
    found: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue  # not a profile we could load either
        if {"system_prompt", "greeting"} <= table.keys():
            found[path.stem].append(path)
    return found


def test_each_profile_name_exists_once_in_the_repository():
    found = profiles_by_name(tracked_tomls(ROOT))
    assert {"medical_intake", "scheduling", "tech_support"} <= found.keys()  # it sees them
    assert {name: paths for name, paths in found.items() if len(paths) > 1} == {}


def test_the_check_catches_a_second_copy_of_a_profile(tmp_path: Path):
    packaged = ROOT / "console" / "profiles" / "scheduling.toml"
    for folder in ("console/profiles", "data/profiles"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "scheduling.toml").write_bytes(packaged.read_bytes())
    (tmp_path / ".venv" / "site").mkdir(parents=True)  # an installed copy is not the repo's
    (tmp_path / ".venv" / "site" / "scheduling.toml").write_bytes(packaged.read_bytes())
    found = profiles_by_name(tracked_tomls(tmp_path))  # not a checkout: the tree is walked
    assert sorted(found["scheduling"]) == [tmp_path / "console/profiles/scheduling.toml",
                                           tmp_path / "data/profiles/scheduling.toml"]
