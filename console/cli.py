"""`voiceconsole`: the command line. Each subcommand lives in console/commands/ and registers
itself; this module only builds the parser and dispatches."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import select
import signal
import sys
from types import ModuleType

from pydantic import ValidationError

# Subcommand modules, imported lazily so `voiceconsole calls` never loads the audio stack.
COMMANDS = ("console", "serve", "simulate", "calls", "demo", "doctor", "control", "webhooks",
            "drill", "profiles", "fleet", "recorder")
# What a shell reports for a writer its reader hung up on (`calls show SID | head`): killed by
# SIGPIPE. Python ignores SIGPIPE and raises BrokenPipeError instead; we exit as if it had not.
CLOSED_PIPE_EXIT = 128 + signal.SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voiceconsole",
        description="Run an AI phone agent over Twilio with a human in the loop.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        if module is not None:
            module.register(subparsers)
    return parser


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"console.commands.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"console.commands.{name}":
            return None  # not built yet
        raise


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        # No subcommand: the operator console. Top-level flags (-v) stay in front of it.
        args = parser.parse_args([*argv, "console"])
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit: a closed pipe must surface where it is caught
        return code
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # a socket's, not ours: that one is a real failure
        return _reader_went_away()
    except ValidationError as error:  # a setting out of range: say which, not a traceback
        print(
            f"voiceconsole: bad settings (.env or environment):\n{_problems(error)}",
            file=sys.stderr,
        )
        return 2


def _stdout_closed() -> bool:
    """Whether nobody reads our stdout any more (poll reports an error on a pipe's write end
    once its reader has gone)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no real stdout
        return False


def _reader_went_away() -> int:
    """The reader closed our stdout (`| head` read enough): stop quietly. What is still buffered
    for it goes to /dev/null, or Python's own flush at exit would print a second traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return CLOSED_PIPE_EXIT


def _problems(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {message}" if name and name not in message else f"  {message}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
