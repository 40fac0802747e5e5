"""`voiceconsole console`: builds the runtime backend from settings and runs the console on it."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import types
from functools import partialmethod

import pytest

from console import locations
from console.commands import console as console_command
from console.tui.app import VoiceConsoleApp

from .fakes import FakeBackend


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="voiceconsole")
    console_command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["console", *argv])


def test_console_says_clearly_when_the_runtime_is_not_built_yet(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "console.runtime", None)  # as if runtime.py did not exist
    args = parse()
    assert args.func(args) == 2
    assert "the runtime is not available yet" in capsys.readouterr().err


def test_console_builds_the_backend_from_settings_and_stops_it_on_quit(
    monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setattr(locations, "data_dir", lambda: tmp_path)
    built: list[FakeBackend] = []
    seen_ports: list[int] = []

    def build_backend(settings) -> FakeBackend:
        seen_ports.append(settings.server.port)
        built.append(FakeBackend())
        return built[-1]

    runtime = types.ModuleType("console.runtime")
    runtime.build_backend = build_backend
    monkeypatch.setitem(sys.modules, "console.runtime", runtime)

    async def log_then_quit(pilot) -> None:
        while not pilot.app.started:
            await pilot.pause(0.02)
        await pilot.pause()  # let the first frame finish mounting, as any human would
        logging.getLogger("console.runtime").warning("webhook restored")
        await pilot.press("ctrl+q")

    headless = partialmethod(VoiceConsoleApp.run, headless=True, auto_pilot=log_then_quit)
    monkeypatch.setattr(VoiceConsoleApp, "run", headless)
    args = parse("--port", "0")
    assert args.func(args) == 0
    assert seen_ports == [0] and built[0].stopped
    # Log lines on stderr would tear the console's screen: they went to a file instead.
    assert "webhook restored" in (tmp_path / "logs" / "console.log").read_text()
    assert "webhook restored" not in capsys.readouterr().err


@pytest.mark.parametrize("module", ["console.tui.app", "console.commands.console"])
def test_importing_the_console_loads_no_sockets_sdks_or_audio_stack(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        "bad = [m for m in ('aiohttp', 'twilio', 'deepgram', 'groq', 'console.telephony', "
        "'sounddevice') if m in sys.modules]; print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
