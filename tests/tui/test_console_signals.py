"""`kill <console pid>` (SIGTERM) takes ctrl+q's way out: the runtime's ordered shutdown, then exit.

(Closing the terminal, SIGHUP, is driven end to end in a real pty by
tests/integration/test_process_lifecycle.py.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import types
from functools import partialmethod

from console import locations
from console.commands import console as console_command
from console.tui.app import VoiceConsoleApp

from .fakes import FakeBackend

GIVE_UP_AFTER_S = 5.0  # only reached when SIGTERM did nothing


class SignalledBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.stopped_event = asyncio.Event()

    async def stop(self) -> None:
        await super().stop()
        self.stopped_event.set()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="voiceconsole")
    console_command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["console", *argv])


def test_sigterm_to_the_console_runs_the_ordered_shutdown_then_exits(monkeypatch, tmp_path):
    monkeypatch.setattr(locations, "data_dir", lambda: tmp_path)
    backend = SignalledBackend()
    runtime = types.ModuleType("console.runtime")
    runtime.build_backend = lambda settings: backend
    monkeypatch.setitem(sys.modules, "console.runtime", runtime)
    forced_out: list[bool] = []

    async def terminate(pilot) -> None:
        while not pilot.app.started:
            await pilot.pause(0.02)
        await pilot.pause()  # let the first frame finish mounting, as any human would
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            await asyncio.wait_for(backend.stopped_event.wait(), GIVE_UP_AFTER_S)
        except TimeoutError:
            forced_out.append(True)
            pilot.app.exit()

    headless = partialmethod(VoiceConsoleApp.run, headless=True, auto_pilot=terminate)
    monkeypatch.setattr(VoiceConsoleApp, "run", headless)
    # Without the console's own handler SIGTERM would end this test process; this one catches it.
    stray: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stray.append(signum))
    try:
        args = parse("--port", "0")
        assert args.func(args) == 0
        assert signal.getsignal(signal.SIGTERM) is not previous  # ours is back after the run
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert not forced_out and not stray  # the console's handler took it, and quit by itself
    assert backend.stopped and backend.stop_calls == 1
    log = (tmp_path / "logs" / "console.log").read_text()
    assert "SIGTERM: shutting down in order" in log
