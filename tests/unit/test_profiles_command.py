"""`voiceconsole profiles list/check/copy`: which profiles there are and where each comes from,
whether they validate, and an editable copy of a packaged one in the operator's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import cli, locations, profile_sources
from console.profiles import load_profile, load_profile_file

MINIMAL = """
title = "Late desk"
system_prompt = "You answer the phone."
greeting = "Hello, how can I help?"
[transfer_targets]
default = "+14155550100"
"""
BAD_GREETING = MINIMAL.replace('"Hello, how can I help?"', "42")
PACKAGED = ("medical_intake", "scheduling", "tech_support")


@pytest.fixture
def mine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operator's profiles folder (not made yet: `copy` makes it)."""
    folder = tmp_path / "profiles"
    monkeypatch.setattr(locations, "profiles_dir", lambda: folder)
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["profiles", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, list[str]]:
    """The list's table as {name: [source, description]}."""
    table = out.splitlines()[1:-1]  # the header and the folder line
    return {row.split()[0]: row.split(None, 2)[1:] for row in table}


def test_list_names_each_profile_with_its_source_and_title(mine: Path, capsys):
    write(mine, "scheduling", MINIMAL)
    write(mine, "front_desk", MINIMAL.replace("Late desk", "Front desk"))
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert rows(out) == {"front_desk": ["new", "Front desk"],
                         "medical_intake": ["packaged", "Medical intake"],
                         "scheduling": ["override", "Late desk"],
                         "tech_support": ["packaged", "Tech support"]}
    assert out.splitlines()[-1] == f"your profiles folder: {mine}"
    assert run(capsys)[1] == out  # `voiceconsole profiles` alone lists them too


def test_list_shows_a_broken_profile_as_invalid_with_the_field_at_fault(mine: Path, capsys):
    write(mine, "scheduling", BAD_GREETING)
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert rows(out)["scheduling"] == ["override", "INVALID: greeting: must be a string, not int"]


def test_list_never_prints_a_terminal_escape_from_a_profile_title(mine: Path, capsys):
    write(mine, "desk", MINIMAL.replace("Late desk", "Desk\\u001b]0;owned\\u0007"))
    out = run(capsys, "list")[1]
    assert "\x1b" not in out and "\x07" not in out
    assert rows(out)["desk"] == ["new", "Desk]0;owned"]


def test_check_passes_the_packaged_profiles_and_exits_0(mine: Path, capsys):
    code, out, _ = run(capsys, "check")
    assert code == 0
    for name in PACKAGED:
        assert f"{name}: ok ({locations.bundled_profiles_dir() / name}.toml)" in out
    assert out.splitlines()[-1] == "3 checked, 0 with problems"


def test_check_names_file_and_field_of_every_problem_and_exits_1(mine: Path, capsys):
    bad = write(mine, "scheduling", BAD_GREETING)
    late = write(mine, "late", MINIMAL.replace("default =", "desk ="))
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert f"scheduling: {bad}: greeting: must be a string, not int" in out
    assert f"late: {late}: transfer_targets: needs a 'default' entry" in out
    assert out.splitlines()[-1] == "4 checked, 2 with problems"


def test_check_with_names_checks_only_those_and_an_unknown_one_is_a_problem(mine, capsys):
    write(mine, "late", BAD_GREETING)
    code, out, _ = run(capsys, "check", "scheduling")
    assert code == 0 and "late" not in out
    code, out, _ = run(capsys, "check", "scheduling", "nightline")
    assert code == 1 and "nightline.toml: name: not found" in out


def test_copy_puts_an_editable_override_in_your_folder_and_prints_its_path(mine: Path, capsys):
    packaged = load_profile("scheduling")
    code, out, err = run(capsys, "copy", "scheduling")
    assert code == 0 and out.strip() == str(mine / "scheduling.toml")
    assert "replaces the packaged scheduling whole" in err
    copied = load_profile("scheduling")
    assert copied.source == mine / "scheduling.toml"
    assert copied.greeting == packaged.greeting and copied.responder == packaged.responder
    assert profile_sources.find("scheduling").origin == profile_sources.OVERRIDE


def test_copy_refuses_to_overwrite_your_file_unless_forced(mine: Path, capsys):
    path = write(mine, "scheduling", MINIMAL)
    code, out, err = run(capsys, "copy", "scheduling")
    assert code == 1 and out == ""
    assert f"{path} already exists (--force replaces it)" in err
    assert path.read_text(encoding="utf-8") == MINIMAL
    assert run(capsys, "copy", "scheduling", "--force")[0] == 0
    packaged = load_profile_file(locations.bundled_profiles_dir() / "scheduling.toml")
    assert load_profile("scheduling").greeting == packaged.greeting  # your edit was replaced


def test_copy_as_starts_a_new_profile_from_a_packaged_one(mine: Path, capsys):
    code, out, _ = run(capsys, "copy", "scheduling", "--as", "dental_late")
    assert code == 0 and out.strip() == str(mine / "dental_late.toml")
    assert load_profile("dental_late").greeting == load_profile("scheduling").greeting
    assert profile_sources.find("dental_late").origin == profile_sources.NEW
    assert profile_sources.find("scheduling").origin == profile_sources.PACKAGED


def test_copy_of_an_unknown_profile_names_the_packaged_ones(mine: Path, capsys):
    code, _, err = run(capsys, "copy", "nightline")
    assert code == 1
    assert "no packaged profile 'nightline' (packaged: medical_intake, scheduling, tech_support)" \
        in err


def test_copy_as_a_name_that_leaves_the_folder_is_refused(mine: Path, capsys):
    code, _, err = run(capsys, "copy", "scheduling", "--as", "../escaped")
    assert code == 1 and "'../escaped' is not a profile name" in err
    assert not (mine.parent / "escaped.toml").exists() and not mine.exists()
