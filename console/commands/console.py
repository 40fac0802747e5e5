"""`voiceconsole console`: the runtime with the operator console on top (the default command)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from console import locations
from console.config import load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "console",
        help="run the agent with the operator console (the default)",
        description="Start the server, tunnel and webhook sync, and watch and steer calls live.",
    )
    parser.add_argument("--port", type=int, help="port the media server binds (0 = any free)")
    parser.add_argument("--public-url", help="the https base Twilio reaches, e.g. an ngrok URL")
    parser.add_argument("--profile", help="agent profile for numbers without one of their own")
    parser.add_argument("--actor", default="console", help="name recorded for operator actions")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = {
        key: value
        for key, value in (
            ("port", args.port),
            ("public_url", args.public_url),
            ("profile", args.profile),
        )
        if value is not None
    }
    settings = load_settings(**overrides)
    build_backend = _runtime_factory()
    if build_backend is None:
        return 2
    from console.tui.app import VoiceConsoleApp  # Textual loads only for this command

    app = VoiceConsoleApp(build_backend(settings), actor=args.actor)
    with _logging_to_file(locations.data_dir() / "logs" / "console.log") as log_path:
        app.run()
    print(f"voiceconsole: log written to {log_path}", file=sys.stderr)
    return app.return_code or 0


@contextlib.contextmanager
def _logging_to_file(path: Path) -> Iterator[Path]:
    """While the console owns the terminal, log lines on stderr would tear its screen apart, and
    a blocking write on the event loop would stall call audio: records go through a queue to a
    file written by the listener's own thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    saved = root.handlers[:]
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    listener = logging.handlers.QueueListener(records, file_handler)
    root.handlers = [logging.handlers.QueueHandler(records)]
    listener.start()
    try:
        yield path
    finally:
        listener.stop()
        file_handler.close()
        root.handlers = saved


def _runtime_factory() -> Any:
    """`console.runtime.build_backend`, imported late so a missing runtime is explained, not a
    traceback."""
    try:
        from console.runtime import build_backend
    except ImportError as error:
        if getattr(error, "name", None) not in ("console.runtime", None):
            raise  # the runtime exists but one of its own imports is broken: show that
        print(
            "voiceconsole console: the runtime is not available yet "
            f"(console.runtime.build_backend: {error}). `voiceconsole serve` may work meanwhile.",
            file=sys.stderr,
        )
        return None
    return build_backend


def run_console_demo(settings: Any, *, calls: int = 1, fast: bool = False) -> int:
    """`voiceconsole demo` with the console: the same runtime, with simulated callers."""
    from console.demo import DemoBackend
    from console.runtime import Runtime
    from console.tui.app import VoiceConsoleApp

    app = VoiceConsoleApp(DemoBackend(Runtime(settings), calls=calls, fast=fast), actor="demo")
    with _logging_to_file(locations.data_dir() / "logs" / "console.log") as log_path:
        app.run()
    print(f"voiceconsole: log written to {log_path}", file=sys.stderr)
    return app.return_code or 0
