"""`voiceconsole calls` and `calls show SID`, against a store the real writer filled."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from console.events import (
    CallEnded,
    CallStarted,
    EmergencyDetected,
    TurnCompleted,
    TurnMeasured,
)
from console.storage.writer import StoreWriter

T0 = 1_700_000_000.0


async def _fill(db_path: Path) -> None:
    writer = StoreWriter(db_path)
    writer.start()
    for event in _history():
        writer(event)
    await writer.close()


def _history() -> list:
    def said(sid: str, role: str, text: str, at: float) -> TurnCompleted:
        return TurnCompleted(sid, role=role, text=text, started=at - 1, ended=at, at=at)

    return [
        CallStarted("CA-dentist", stream_sid="MZ1", from_number="+15550001111",
                    to_number="+15559990000", profile="scheduling", at=T0),
        said("CA-dentist", "caller", "Can I move my dentist appointment?", T0 + 3),
        said("CA-dentist", "agent", "Sure, Thursday at ten works.", T0 + 5),
        TurnMeasured("CA-dentist", turn=1, stages={"stt_final": 150.0, "llm_first_token": 220.0},
                     at=T0 + 5),
        CallEnded("CA-dentist", reason="caller-hangup", at=T0 + 95),
        CallStarted("CA-flood", stream_sid="MZ2", from_number="+15550002222",
                    to_number="+15559990000", profile="triage", at=T0 + 500),
        said("CA-flood", "caller", "Water is pouring through the ceiling", T0 + 503),
        EmergencyDetected("CA-flood", source="caller", phrase="pouring", text="...", at=T0 + 503),
    ]  # fmt: skip


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "voiceconsole.db"
    monkeypatch.setenv("VOICECONSOLE_DATA_DB", str(path))
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree
    return path


@pytest.fixture
def filled(db_path: Path) -> Path:
    asyncio.run(_fill(db_path))
    return db_path


def test_calls_prints_a_table_of_stored_calls_newest_first(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STARTED", "CALL", "SID", "FROM", "TO", "PROFILE", "STATUS",
                                "DURATION", "TURNS", "DISPOSITION"]  # fmt: skip
    assert "CA-flood" in lines[1] and "EMERGENCY" in lines[1] and "live" in lines[1]
    assert "CA-dentist" in lines[2] and "1:35" in lines[2] and "caller-hangup" not in lines[2]
    assert len(lines) == 3


def test_calls_json_lists_every_call_with_turn_count_and_duration(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "--json"]) == 0
    calls = json.loads(capsys.readouterr().out)
    assert [(c["call_sid"], c["turn_count"], c["duration"]) for c in calls] == [
        ("CA-flood", 1, None),
        ("CA-dentist", 2, 95.0),
    ]


def test_calls_search_and_limit_narrow_the_list(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "--json", "--search", "dentist"]) == 0
    assert [c["call_sid"] for c in json.loads(capsys.readouterr().out)] == ["CA-dentist"]
    assert main(["calls", "--json", "--limit", "1"]) == 0
    assert [c["call_sid"] for c in json.loads(capsys.readouterr().out)] == ["CA-flood"]
    assert main(["calls", "--search", "pizza"]) == 0
    assert capsys.readouterr().out.strip() == "no calls match"


def test_calls_show_json_prints_the_call_with_turns_events_and_metrics(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "show", "CA-dentist", "--json"]) == 0
    call = json.loads(capsys.readouterr().out)
    assert (call["status"], call["end_reason"], call["emergency"]) == (
        "ended",
        "caller-hangup",
        False,
    )
    assert [(t["idx"], t["role"]) for t in call["turns"]] == [(0, "caller"), (1, "agent")]
    assert [e["kind"] for e in call["events"]] == [
        "CallStarted", "TurnCompleted", "TurnCompleted", "TurnMeasured", "CallEnded",
    ]  # fmt: skip
    assert call["events"][-1]["payload"] == {"reason": "caller-hangup"}
    assert call["metrics"] == [
        {"turn": 1, "stages": {"stt_final": 150.0, "llm_first_token": 220.0}}
    ]


def test_calls_show_prints_the_transcript_in_order(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "show", "CA-dentist"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "call CA-dentist  ended (caller-hangup)"
    assert out.index("Can I move my dentist appointment?") < out.index("Thursday at ten")
    assert "stt_final=150" in out and "CallEnded" in out


def test_calls_show_of_an_unknown_sid_says_so_on_stderr_and_exits_1(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "show", "CA-nobody"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no call CA-nobody" in captured.err


def test_calls_without_a_database_says_no_calls_yet_and_creates_nothing(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls"]) == 0
    assert capsys.readouterr().out.startswith("no calls yet")
    assert main(["calls", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["calls", "show", "CA-x"]) == 1
    assert "no call CA-x" in capsys.readouterr().err
    assert not db_path.exists()


def test_the_installed_voiceconsole_command_lists_calls(filled: Path) -> None:
    command = Path(sys.executable).with_name("voiceconsole")
    result = subprocess.run(
        [str(command), "calls", "--search", "ceiling"],
        env={**os.environ, "VOICECONSOLE_DATA_DB": str(filled)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CA-flood" in result.stdout and "CA-dentist" not in result.stdout


HOSTILE = "\x1b]0;owned\x07\x1b[2J\x9b2J\x1b]52;c;ZWNobyBvd25lZA==\x07\u202e[/]"
OBEYED = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) != "\n"] + ["\u202e"]


async def _store(db_path: Path, events: list) -> None:
    writer = StoreWriter(db_path)
    writer.start()
    for event in events:
        writer(event)
    await writer.close()


def test_calls_output_shows_what_a_caller_sent_without_anything_the_terminal_would_obey(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_store(db_path, [
        CallStarted("CAhostile", stream_sid="MZ1", from_number=HOSTILE + "+1555",
                    to_number="+15559990000", profile=HOSTILE, at=T0),
        TurnCompleted("CAhostile", role="caller", text=f"hello{HOSTILE}\nthere", started=T0,
                      ended=T0 + 1, at=T0 + 1),
        CallEnded("CAhostile", reason=HOSTILE, at=T0 + 2),
    ]))  # fmt: skip
    outputs = {}
    for argv in (["calls"], ["calls", "show", "CAhostile"], ["calls", "--json"],
                 ["calls", "show", "CAhostile", "--json"], ["calls", "show", HOSTILE]):  # fmt: skip
        main(argv)
        out, err = capsys.readouterr()
        outputs[" ".join(argv)] = out
        assert not [c for c in out + err if c in OBEYED], argv
    assert "]0;owned[2J2J]52;c;ZWNobyBvd25lZA==[/]+1555" in outputs["calls"]
    assert "hello]0;owned" in outputs["calls show CAhostile"]  # one line: the "\n" is a space
    # The JSON keeps the data as it is, escaped.
    assert json.loads(outputs["calls --json"])[0]["from_number"] == HOSTILE + "+1555"
    call = json.loads(outputs["calls show CAhostile --json"])
    assert call["turns"][0]["text"] == f"hello{HOSTILE}\nthere"


def test_calls_show_into_a_pipe_closed_early_exits_quietly(filled: Path) -> None:
    asyncio.run(_store(filled, [
        TurnCompleted("CA-dentist", role="caller", text="so many words " * 20, started=T0 + 10,
                      ended=T0 + 11, at=T0 + 11)
        for _ in range(300)
    ]))  # fmt: skip  -- ~90 kB: more than a pipe holds, so the writer must meet the closed end
    project = Path(__file__).resolve().parents[2]
    reader = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "calls", "show", "CA-dentist"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "VOICECONSOLE_DATA_DB": str(filled), "PYTHONPATH": str(project)},
    )  # fmt: skip
    reader.stdout.close()  # `| head` read its lines and left
    stderr = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 141  # as if SIGPIPE had ended it: 128 + 13
    assert stderr == ""
