"""`voiceconsole fleet status`: the fleet's workers as their heartbeats say (issue 17)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from console.config import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("fleet", help="the fleet of media workers "
                                   "(VOICECONSOLE_FLEET_URL)")
    commands = parser.add_subparsers(dest="fleet_command", metavar="COMMAND", required=True)
    status = commands.add_parser(
        "status", help="every live worker: its calls and capacity, whether it is draining, how "
        "long since its last heartbeat, and where Twilio reaches it; exits 1 when Redis cannot "
        "be reached")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    from console.fleet.operations import Unreachable, read_fleet, status_json, status_lines

    url = load_settings().fleet.url
    if url is None:
        print("voiceconsole fleet status: no fleet: set VOICECONSOLE_FLEET_URL "
              "(redis://host:6379/0)", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(read_fleet(url))
    except Unreachable as error:
        print(f"voiceconsole fleet status: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status_json(report), indent=2))
    else:
        print("\n".join(status_lines(report)))
    return 0
