"""`voiceconsole demo`: a whole phone call on this machine, with no credentials."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from console.config import Settings, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="place simulated calls against a local server (embedded default)")
    parser.add_argument("--headless", action="store_true",
                        help="print the transcript and latencies instead of opening the console")
    parser.add_argument("--calls", type=int, default=1, help="simultaneous calls (default 1)")
    parser.add_argument("--profile", help="agent profile (default: PROFILE or scheduling)")
    parser.add_argument("--fast", action="store_true", help="send caller audio unpaced")
    parser.add_argument("--db", type=Path,
                        help="database to store the demo calls in (default: demo/demo.db in the "
                             "data folder, apart from a console that may be running)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.commands.console import hold_data_folder
    from console.demo import demo_settings

    if args.calls < 1:
        raise SystemExit("voiceconsole demo: --calls must be at least 1")
    overrides: dict[str, object] = {"server_port": 0, "server_host": "127.0.0.1"}
    if args.profile:
        overrides["profile_default"] = args.profile
    settings = demo_settings(load_settings(**overrides), db=args.db)
    with hold_data_folder(settings, "demo"):
        if not args.headless:
            from console.commands.console import run_console_demo

            return run_console_demo(settings, calls=args.calls, fast=args.fast)
        return asyncio.run(_headless(settings, args.calls, args.fast))


async def _headless(settings: Settings, calls: int, fast: bool) -> int:
    from console.admin.attach import serve_admin
    from console.demo import print_event, run_demo
    from console.runtime import Runtime

    runtime = Runtime(settings)
    serve_admin(runtime)
    await runtime.start()
    try:
        summary = await run_demo(runtime, calls=calls, fast=fast, printer=print_event)
    finally:
        await runtime.stop()
    print(json.dumps(summary, indent=2))
    return 0


