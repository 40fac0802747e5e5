"""An operator edits a profile while the console runs: a bad edit is reported and calls go on
with the last good version (on the wire: our runtime, the fakes, a simulated caller). A profile
that is invalid when the console starts stops the start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console import locations
from console.config import load_settings
from console.profile_sources import copy_packaged
from console.profiles import InvalidProfiles, load_profile
from console.runtime import Runtime
from tests.integration.conftest import start_cloud_stack, stop_cloud_stack


@pytest.fixture
def editable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operator's profiles folder with an override: a copy of the packaged scheduling."""
    folder = tmp_path / "profiles"
    monkeypatch.setattr(locations, "profiles_dir", lambda: folder)
    copy_packaged("scheduling")  # what `voiceconsole profiles copy scheduling` does
    return folder


def break_greeting(folder: Path) -> Path:
    path = folder / "scheduling.toml"
    text = path.read_text(encoding="utf-8")
    good = f'greeting = "{load_profile("scheduling").greeting}"'
    assert good in text
    path.write_text(text.replace(good, "greeting = 42"), encoding="utf-8")
    return path


async def test_a_call_on_a_badly_edited_profile_greets_with_the_last_good_one(tmp_path, editable):
    stack, parts = await start_cloud_stack(tmp_path, ms_per_char=3.0)
    try:
        greeting = load_profile("scheduling").greeting
        path = break_greeting(editable)
        summary = await stack.caller(reply_quiet_ms=200).run()  # hears the greeting, hangs up
        assert summary["ended_by"] == "caller" and summary["agent_turns_ms"], summary["errors"]
        assert [e.text for e in stack.events("AgentSpoke")] == [greeting]
        rejected = stack.events("ProfileRejected")
        assert f"{path}: greeting: must be a string, not int" in rejected[0].problem
        alert = stack.events("AlertRaised")
        assert [a.level for a in alert] == ["warning"] and "scheduling" in alert[0].message
    finally:
        await stop_cloud_stack(parts)


async def test_a_profile_invalid_at_start_up_stops_the_start_naming_file_and_field(
        tmp_path, editable):
    path = break_greeting(editable)
    settings = load_settings(_env_file=None, server_port=0, data_db=tmp_path / "calls.db",
                             deepgram_api_key=None, groq_api_key=None)
    with pytest.raises(InvalidProfiles, match=re.escape(f"{path}: greeting: must be a string")):
        await Runtime(settings).start()
    assert not (tmp_path / "calls.db").exists()  # refused before anything was opened
