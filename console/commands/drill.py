"""`voiceconsole drill`: practise on the running console with scripted simulated calls.

    voiceconsole drill [--scenario NAME ...] [--scenarios FILE] [--json]
    voiceconsole drill --list                 the scenarios, and what each expects
    voiceconsole drill --history [--json]     past drills, latest first
    voiceconsole drill --show DRILL_ID [--json]

It finds the running console as `voiceconsole control` does (the admin file next to the
database, or --url/--token), places one call per scenario into its media server (console/drill),
scores how the operator reacted, prints the report and stores it in the call store. Exit codes:
0 the drill ran (misses or not), 1 it could not (nothing running, no call placed), 2 bad
arguments or scenarios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from console.safe_text import json_printable, printable

if TYPE_CHECKING:  # imported when the command runs
    from console.config import Settings
    from console.drill.feed import Admin
    from console.drill.scenarios import Scenario
    from console.storage.records import DrillSummary

EXIT_FAILED = 1
EXIT_BAD_ARGS = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "drill", help="practise: scripted simulated calls into the running console, scored",
        description="Place scripted simulated calls (chest pain, an angry caller, a silent "
        "caller, one who asks for a human) into the running console and score how the operator "
        "reacted: time to acknowledge, to take over, to transfer.")
    p.add_argument("--scenario", action="append", metavar="NAME", help="run only this one "
                   "(repeat for more; default: all)")
    p.add_argument("--scenarios", type=Path, metavar="FILE", help="a scenarios TOML of your own")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--history", action="store_true", help="list past drills")
    p.add_argument("--show", metavar="DRILL_ID", help="print a past drill's report")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-store", action="store_true", help="do not keep the report")
    p.add_argument("--url", help="admin endpoint URL (default: from the admin file)")
    p.add_argument("--token", help="admin token (default: admin file, or "
                   "VOICECONSOLE_SERVER_ADMIN_TOKEN)")
    p.add_argument("--admin-file", type=Path, help="default: admin.json next to the DB")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.config import load_settings
    from console.drill.feed import DrillError
    from console.drill.scenarios import ScenarioError

    settings = load_settings()
    try:
        if args.history or args.show:
            return _past(args, settings.data.db)
        scenarios = _scenarios(args)
        if args.list:
            return _list(scenarios, args.json)
        return _drill(args, settings, scenarios)
    except ScenarioError as error:
        print(f"voiceconsole drill: {printable(error)}", file=sys.stderr)
        return EXIT_BAD_ARGS
    except DrillError as error:
        print(f"voiceconsole drill: {printable(error)}", file=sys.stderr)
        return EXIT_FAILED


def _scenarios(args: argparse.Namespace) -> list[Scenario]:
    from console.drill.scenarios import load_scenarios

    return load_scenarios(args.scenarios, args.scenario)


def _drill(args: argparse.Namespace, settings: Settings, scenarios: list[Scenario]) -> int:
    from console.drill.report import print_report
    from console.drill.runner import DrillPlan, run_drill
    from console.storage.drills import save_drill

    token = settings.twilio.auth_token
    plan = DrillPlan(admin=_admin(args, settings), scenarios=scenarios,
                     auth_token=token.get_secret_value() if token else None,
                     account_sid=settings.twilio.account_sid,
                     progress=lambda line: print(printable(line), file=sys.stderr))
    print(f"drill {plan.drill_id}: {len(scenarios)} calls, one at a time; react in the console "
          "as you would to a real one", file=sys.stderr)
    report = asyncio.run(run_drill(plan)).to_dict()
    if not args.no_store:
        save_drill(settings.data.db, report)
    if args.json:
        print(json_printable(json.dumps(report, indent=2, ensure_ascii=False)))
    else:
        print_report(report)
    return 0


def _admin(args: argparse.Namespace, settings: Settings) -> Admin:
    from console.admin.server import admin_file_path, read_admin_file
    from console.drill.feed import Admin, DrillError

    path = args.admin_file or admin_file_path(settings)
    found = read_admin_file(path)
    url = (args.url or (found.url if found else "")).rstrip("/")
    if not url:
        raise DrillError(f"voiceconsole is not running (no admin endpoint at {path})")
    from_file = found.token if found and found.url == url else None
    admin_token = settings.server.admin_token
    configured = admin_token.get_secret_value() if admin_token else None
    return Admin(url, args.token or from_file or configured)


def _list(scenarios: list[Scenario], as_json: bool) -> int:
    if as_json:
        rows = [{"name": s.name, "title": s.title, "profile": s.profile, "cue": s.describe_cue(),
                 "expect": dict(s.expect), "lines": list(s.lines)} for s in scenarios]
        print(json_printable(json.dumps(rows, indent=2, ensure_ascii=False)))
        return 0
    for s in scenarios:
        expects = ", ".join(f"{name} within {limit:g} s" for name, limit in s.expect)
        print(printable(f"{s.name:<14} {s.title} ({s.profile}): from {s.describe_cue()}, "
                        f"{expects}"))
    return 0


def _past(args: argparse.Namespace, db_path: Path) -> int:
    from console.drill.report import print_report
    from console.storage.drills import get_drill, list_drills

    if args.show:
        report = get_drill(db_path, args.show)
        if report is None:
            print(f"voiceconsole drill: no drill {printable(args.show)}", file=sys.stderr)
            return EXIT_FAILED
        if args.json:
            print(json_printable(json.dumps(report, indent=2, ensure_ascii=False)))
        else:
            print_report(report)
        return 0
    rows = list_drills(db_path)
    if args.json:
        listed = [row.to_json() for row in rows]
        print(json_printable(json.dumps(listed, indent=2, ensure_ascii=False)))
    else:
        print(format_history(rows))
    return 0


def format_history(rows: list[DrillSummary]) -> str:
    """Past drills as a plain table, latest first."""
    if not rows:
        return "no drills yet (run: voiceconsole drill)"
    from console.drill.report import when

    lines = [f"{'DRILL':<26} {'WHEN':<16} {'CALLS':>5} {'SCORE':>5} {'MISSES':>6}  OPERATOR"]
    for row in rows:
        score = "-" if row.score is None else str(row.score)
        lines.append(printable(
            f"{row.drill_id:<26} {when(row.started):<16} {row.scenarios:>5} "
            f"{score:>5} {row.misses:>6}  {row.operator or '-'}"))
    return "\n".join(lines)
