"""`voiceconsole console`: the runtime with the operator console on top (the default command)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import logging.handlers
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from io import TextIOWrapper
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from console import locations
from console.config import Settings, load_settings
from console.storage.files import private_file, private_folder
from console.storage.lock import DataFolderLock, FolderInUse

if TYPE_CHECKING:  # loaded when the command runs: Textual only for the console
    from console.runtime import Runtime
    from console.tui.app import VoiceConsoleApp

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
            ("server_port", args.port),
            ("public_url", args.public_url),
            ("profile_default", args.profile),
        )
        if value is not None
    }
    settings = load_settings(**overrides)
    if settings.fleet.url is not None:
        return run_fleet_console(settings, args.actor)
    build_backend = _runtime_factory()
    if build_backend is None:
        return 2
    from console.admin.attach import serve_admin
    from console.tui.app import VoiceConsoleApp  # Textual loads only for this command

    with hold_data_folder(settings, "console"):
        backend = build_backend(settings)
        if hasattr(backend, "attach"):  # a runtime (a test's stand-in backend serves none)
            serve_admin(backend)  # `voiceconsole control` and drills reach this console
        app = VoiceConsoleApp(backend, actor=args.actor)
        return run_app(app, settings)


def run_fleet_console(settings: Settings, actor: str) -> int:
    """With VOICECONSOLE_FLEET_URL the console attaches to the fleet (console/fleet/backend.py)
    and hosts no media server: the workers do. It holds no data folder either (the recorder
    writes the history there; the console only reads it) and serves no admin API (`voiceconsole
    control` reaches a worker's)."""
    from console.fleet.backend import FleetBackend
    from console.tui.app import VoiceConsoleApp  # Textual loads only for this command

    return run_app(VoiceConsoleApp(FleetBackend(settings), actor=actor), settings)


def hold_data_folder(settings: Settings, command: str) -> DataFolderLock:
    """The instance's data folder, held for the process's life, or a refusal that names the
    process holding it (storage/lock.py)."""
    folder = locations.data_folder(settings.data.db)
    try:
        return DataFolderLock(folder).acquire()
    except FolderInUse as error:
        raise SystemExit(f"voiceconsole {command}: {error}") from None


def run_app(app: VoiceConsoleApp, settings: Settings) -> int:
    """Run the console with its log in a file, and SIGTERM/SIGHUP taking the quit path."""
    log_file = locations.log_path(settings.data.db)
    with _logging_to_file(log_file, settings.log.max_bytes, settings.log.backup_count) as path, \
            _shutdown_on_signals(app):
        app.run()
    print(f"voiceconsole: log written to {path}", file=sys.stderr)
    return app.return_code or 0


@contextlib.contextmanager
def _logging_to_file(path: Path, max_bytes: int, backups: int) -> Iterator[Path]:
    """While the console owns the terminal, log lines on stderr would tear its screen apart, and
    a blocking write on the event loop would stall call audio: records go through a queue to a
    file written by the listener's own thread. The file is private (it quotes callers) and
    rotated at `max_bytes`, keeping `backups` old ones."""
    private_folder(path.parent)
    root = logging.getLogger()
    saved = root.handlers[:]
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    file_handler = PrivateRotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                              encoding="utf-8")
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


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Each file it opens, the first and every one after a rollover, is created 0600."""

    def _open(self) -> TextIOWrapper:
        private_file(self.baseFilename)
        return super()._open()


@contextlib.contextmanager
def _shutdown_on_signals(app: VoiceConsoleApp) -> Iterator[None]:
    """SIGTERM (`kill`, systemd) and SIGHUP (the terminal was closed) take the same way out as
    ctrl+q: end the calls, flush storage, restore the webhook, close the tunnel, then exit.
    Without this, either signal killed the process on the spot and left the number pointing at
    a dead tunnel and an ngrok agent running."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {signum: signal.signal(signum, _on_signal(app)) for signum in QUIT_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


QUIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _on_signal(app: VoiceConsoleApp) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            _leave_the_closed_terminal()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the console is not running yet or any more: nothing to wind down
            raise SystemExit(128 + signum) from None
        # A Python signal handler interrupts whatever the loop was doing: hand the work to the
        # loop instead (call_soon_threadsafe is the one loop call safe from a handler).
        loop.call_soon_threadsafe(_quit, app, signal.Signals(signum).name)

    return handle


def _quit(app: VoiceConsoleApp, signal_name: str) -> None:
    log.warning("%s: shutting down in order (ending calls, restoring the webhook, closing the "
                "tunnel)", signal_name)
    app.call_later(_quit_in_app, app)


_QUITTING: set[asyncio.Task[None]] = set()  # a reference, so the task is not collected mid-way


async def _quit_in_app(app: VoiceConsoleApp) -> None:
    """In the app's context: ctrl+q's path (the ordered shutdown in a worker, then exit)."""
    await app.action_quit()
    task = asyncio.create_task(_release_input_after_shutdown(app), name="release-input")
    _QUITTING.add(task)
    task.add_done_callback(_QUITTING.discard)


async def _release_input_after_shutdown(app: VoiceConsoleApp) -> None:
    await app.stop_backend()  # the one shutdown action_quit began: wait for it, start nothing
    for fd in _SILENT_INPUT:  # Textual's input thread may sit in a read on the quiet pipe:
        os.close(fd)          # end of file lets it go before Textual joins it on exit
    _SILENT_INPUT.clear()


_SILENT_INPUT: list[int] = []  # write ends kept open while the quiet stdin must stay quiet


def _leave_the_closed_terminal() -> None:
    """After a hang-up every write to the terminal fails (EIO): Textual's writer thread would
    die on the first one, and the next repaints would block the event loop on its full queue,
    in the middle of the shutdown. Output goes to /dev/null, and input to a pipe that stays quiet
    until the shutdown is done (the hung-up terminal, like /dev/null, reads as end of file at
    once, and Textual's input thread would spin on it, taking the CPU from the shutdown)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    os.close(read_end)
    _SILENT_INPUT.append(write_end)


def _runtime_factory() -> Callable[[Settings], Runtime] | None:
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


def run_console_demo(settings: Settings, *, calls: int = 1, fast: bool = False) -> int:
    """`voiceconsole demo` with the console: the same runtime, with simulated callers. The caller
    holds the demo's data folder."""
    from console.admin.attach import serve_admin
    from console.demo import DemoBackend
    from console.runtime import Runtime
    from console.tui.app import VoiceConsoleApp

    runtime = Runtime(settings)
    serve_admin(runtime)
    app = VoiceConsoleApp(DemoBackend(runtime, calls=calls, fast=fast), actor="demo")
    return run_app(app, settings)
