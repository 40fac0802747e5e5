"""`voiceconsole` with VOICECONSOLE_FLEET_URL set: the console attaches to the fleet instead of
building a runtime, so it hosts no media server (the workers do)."""

from __future__ import annotations

import argparse
import sys
from functools import partialmethod

import pytest

from console import locations
from console.commands import console as console_command
from console.fleet.backend import FleetBackend
from console.tui.app import VoiceConsoleApp

pytestmark = pytest.mark.timeout(20)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="voiceconsole")
    console_command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["console", *argv])


def test_the_console_joins_the_fleet_and_builds_no_runtime(redis_server, monkeypatch,
                                                           tmp_path) -> None:
    monkeypatch.setattr(locations, "data_dir", lambda: tmp_path)
    monkeypatch.setenv("VOICECONSOLE_FLEET_URL", redis_server.url)
    monkeypatch.setitem(sys.modules, "console.runtime", None)  # importing it would fail
    seen: dict[str, object] = {}

    async def look_then_quit(pilot) -> None:
        while not pilot.app.started:
            await pilot.pause(0.02)
        seen["backend"] = pilot.app.backend
        seen["status"] = pilot.app.backend.status()
        await pilot.press("ctrl+q")

    headless = partialmethod(VoiceConsoleApp.run, headless=True, auto_pilot=look_then_quit)
    monkeypatch.setattr(VoiceConsoleApp, "run", headless)
    args = parse("--actor", "alice")
    assert args.func(args) == 0
    assert isinstance(seen["backend"], FleetBackend)
    assert seen["status"]["local_url"] == "fleet: 0 workers, 0 live calls, Redis up"
