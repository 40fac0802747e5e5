"""`voiceconsole drill` from a shell, where no call is placed: the scenarios, and the words it
says when there is no console to drill against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console import cli


@pytest.fixture
def no_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VOICECONSOLE_DATA_DB", str(tmp_path / "calls.db"))
    monkeypatch.delenv("VOICECONSOLE_SERVER_ADMIN_TOKEN", raising=False)
    return tmp_path


def test_drill_with_no_console_running_says_so_and_exits_1(no_console: Path, capsys):
    assert cli.main(["drill"]) == 1
    err = capsys.readouterr().err
    assert f"voiceconsole is not running (no admin endpoint at {no_console / 'admin.json'})" in err


def test_drill_list_names_each_scenario_and_what_it_expects(no_console: Path, capsys):
    assert cli.main(["drill", "--list", "--json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["chest-pain"]["expect"] == {"acknowledge": 15, "take-over": 30, "transfer": 60}
    assert listed["silent"]["cue"] == "5 s of silence"


def test_an_unknown_scenario_is_a_usage_error_naming_the_ones_there_are(no_console, capsys):
    assert cli.main(["drill", "--scenario", "fire"]) == 2
    assert "no scenario fire in" in capsys.readouterr().err


def test_drill_history_with_no_drills_yet_says_how_to_run_one(no_console: Path, capsys):
    assert cli.main(["drill", "--history"]) == 0
    assert capsys.readouterr().out.strip() == "no drills yet (run: voiceconsole drill)"
    assert not (no_console / "calls.db").exists()  # looking made no store
