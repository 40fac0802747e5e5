"""`voiceconsole`: the command line. Each subcommand lives in console/commands/ and registers
itself; this module only builds the parser and dispatches."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pydantic import ValidationError

# Subcommand modules, imported lazily so `voiceconsole calls` never loads the audio stack.
COMMANDS = ("console", "serve", "simulate", "calls", "demo", "doctor", "control")


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


def _load(name: str):
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
        return int(args.func(args) or 0)
    except ValidationError as error:  # a setting out of range: say which, not a traceback
        print(
            f"voiceconsole: bad settings (.env or environment):\n{_problems(error)}",
            file=sys.stderr,
        )
        return 2


def _problems(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {message}" if name and name not in message else f"  {message}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
