"""Where agent profiles come from: the packaged defaults, and the operator's own folder.

The TOML files inside the package (`console/profiles/`) are the only defaults. The operator's own
profiles live in the data folder's `profiles/`: a file there named like a packaged profile is an
override and replaces that profile whole (a field it leaves out takes the loader's default, not
the packaged value); any other name is a new profile. `voiceconsole profiles copy NAME` starts
one from the packaged file. A broken override is an error naming that file: the loader never
falls back to the packaged copy without saying so.

Nothing here parses TOML (console/profiles.py does); these functions only find and copy files,
so they read the disk: call them at startup, from the CLI, or through `asyncio.to_thread`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from console import locations

PACKAGED, OVERRIDE, NEW = "packaged", "override", "new"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
SUFFIX = ".toml"


@dataclass(frozen=True)
class ProfileSource:
    """The file a profile is read from, and whether it is packaged, an override or new."""

    name: str
    path: Path
    origin: str


class CopyRefused(ValueError):
    """`copy` did nothing: an unknown packaged name, a bad new name, or the file exists."""


def operator_dir() -> Path:
    """The operator's profiles folder. The one place that asks `locations` where it is."""
    return locations.profiles_dir()


def packaged_dir() -> Path:
    return locations.bundled_profiles_dir()


def is_valid_name(name: str) -> bool:
    """A profile name is letters, digits, '-' or '_' (so it never reaches outside a folder)."""
    return bool(_NAME.match(name))


def find(name: str) -> ProfileSource | None:
    """The file `name` is read from: the operator's own, else the packaged one, else None.
    Anything at the operator's path counts (a folder, a dangling link): the loader then
    reports it, rather than the packaged copy being used in silence."""
    own = operator_dir() / f"{name}{SUFFIX}"
    packaged = packaged_dir() / f"{name}{SUFFIX}"
    if os.path.lexists(own):
        return ProfileSource(name, own, OVERRIDE if packaged.is_file() else NEW)
    if packaged.is_file():
        return ProfileSource(name, packaged, PACKAGED)
    return None


def names() -> list[str]:
    """Every profile name, the operator's and the packaged, sorted."""
    return sorted(_names_in(operator_dir()) | _names_in(packaged_dir()))


def packaged_names() -> list[str]:
    return sorted(_names_in(packaged_dir()))


def all_sources() -> list[ProfileSource]:
    """Where each profile is read from, by name."""
    return [source for name in names() if (source := find(name)) is not None]


def _names_in(folder: Path) -> set[str]:
    return {path.stem for path in folder.glob(f"*{SUFFIX}")} if folder.is_dir() else set()


def copy_packaged(name: str, new_name: str | None = None, *, force: bool = False) -> Path:
    """Copy the packaged profile `name` into the operator's folder (as `new_name`, else as an
    override of `name`) for editing, and return the new file's path. Raises CopyRefused."""
    source = packaged_dir() / f"{name}{SUFFIX}"
    if not is_valid_name(name) or not source.is_file():
        raise CopyRefused(f"no packaged profile {name!r} (packaged: "
                          f"{', '.join(packaged_names()) or 'none'})")
    target_name = new_name or name
    if not is_valid_name(target_name):
        raise CopyRefused(f"{target_name!r} is not a profile name (letters, digits, '-' or '_')")
    target = operator_dir() / f"{target_name}{SUFFIX}"
    text = _copy_header(name, target_name) + source.read_text(encoding="utf-8")
    _write(target, text, force=force)
    return target


def _copy_header(name: str, target_name: str) -> str:
    check = f"# Check an edit with: voiceconsole profiles check {target_name}\n"
    if name == target_name:
        return (f"# Your copy of the packaged {name!r} profile (voiceconsole profiles copy): it\n"
                "# replaces the packaged one whole; delete this file to go back to it.\n" + check)
    return (f"# A new profile {target_name!r}, started from the packaged {name!r}\n"
            "# (voiceconsole profiles copy).\n" + check)


def _write(target: Path, text: str, *, force: bool) -> None:
    """Write `text` to `target`; without `force`, only if nothing is there ("x" mode, so a file
    made meanwhile is not overwritten either)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with target.open("w" if force else "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise CopyRefused(f"{target} already exists (--force replaces it)") from None
