"""Screenshots for the README, taken from a real run: the embedded demo (our server, local
speech-to-text, Piper voice, scripted responder, simulated callers over the Twilio protocol) with
the operator console on top, headless.

    .venv/bin/python docs/screenshots.py            # writes docs/dashboard.svg, docs/call-view.svg

Nothing is faked: the console waits until a call has had a few turns and a measured reply.
The call database goes to a temporary folder, so data/ is left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from console.config import load_settings
from console.demo import DemoBackend
from console.runtime import Runtime
from console.tui.app import VoiceConsoleApp
from console.tui.board import CallState
from console.tui.screens.call_view import CallViewScreen

DOCS = Path(__file__).resolve().parent
SIZE = (120, 34)


def busy_call(app: VoiceConsoleApp, turns: int) -> CallState | None:
    """A live call with `turns` transcript lines and a measured voice-to-voice, if any."""
    ready = [c for c in app.board.calls() if c.live and len(c.lines) >= turns and c.v2v]
    return ready[0] if ready else None


async def until(condition, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: gave up waiting for {what} after {within:.0f} s")
        await asyncio.sleep(0.1)


async def shoot(calls: int, turns: int, within: float) -> list[Path]:
    with tempfile.TemporaryDirectory(prefix="voiceconsole-shots-") as folder:
        settings = load_settings(
            _env_file=None,
            port=0,
            voiceconsole_db=Path(folder) / "demo.db",
            deepgram_api_key=None,
            groq_api_key=None,
        )
        app = VoiceConsoleApp(DemoBackend(Runtime(settings), calls=calls), actor="demo")
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: app.started, within, "the runtime to start")
            await until(lambda: busy_call(app, turns) is not None, within, f"{turns} turns")
            await pilot.pause(0.3)  # let the 10 Hz board refresh land
            saved = [Path(app.save_screenshot("dashboard.svg", str(DOCS)))]
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, CallViewScreen), 5, "the call view")
            await until(lambda: busy_call(app, turns + 1) is not None, within, "one more turn")
            await pilot.pause(0.3)
            saved.append(Path(app.save_screenshot("call-view.svg", str(DOCS))))
            await pilot.press("ctrl+q")
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2, help="simulated calls at once")
    parser.add_argument("--turns", type=int, default=3, help="transcript lines to wait for")
    parser.add_argument("--within", type=float, default=120.0, help="seconds before giving up")
    args = parser.parse_args(argv)
    for path in asyncio.run(shoot(args.calls, args.turns, args.within)):
        print(f"screenshots: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
