"""A screenshot of the call record screen with its summary and player (pytest-textual-snapshot):
a stored call with a recording and a summary, the playhead moved half way, the line being said
there highlighted. The README shows this screen (docs/call-record.svg).

Update after an intended change with: pytest tests/tui/test_replay_snapshot.py --snapshot-update
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.events import CallSummarized
from console.tui.widgets.replay_player import ReplayPlayer
from tests.recordings import noise_recording, recorded_call

from .conftest import wait_until
from .test_history import stored_history
from .test_replay import SECONDS, SID, STARTED, TURNS, open_player, replay_app

SIZE = (120, 34)


@pytest.fixture
def same_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Local time is UTC, and the recording's stored path is the same on every run (the audit
    log may show it): a relative name in a working folder of its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield tmp_path
    monkeypatch.undo()
    time.tzset()


def test_call_record_shows_the_player_and_the_line_under_the_playhead(
    snap_compare, same_everywhere: Path
) -> None:
    noise_recording(same_everywhere / "rec.wav", SECONDS)
    call = recorded_call(SID, STARTED, TURNS, Path("rec.wav"), SECONDS) + [CallSummarized(
        SID, summary="An appointment was booked for Tuesday at 3 pm.", disposition="booked",
        action_items=("Put Ana in the diary for Tuesday at 3 pm.",),
        fields=(("name", "Ana"), ("requested_time", "Tuesday at 3 pm")), source="rules",
        at=STARTED + SECONDS + 1)]
    app = replay_app(stored_history(same_everywhere, call))

    async def run_before(pilot: Pilot) -> None:
        player = await open_player(pilot)
        await pilot.press("5", "f")  # 0:06 of 0:12, at 1.5x
        await wait_until(pilot, lambda: player.turn == 2 and "1.5×" in str(player.content))
        assert isinstance(pilot.app.screen.focused, ReplayPlayer)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
