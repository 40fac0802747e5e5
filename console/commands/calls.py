"""`voiceconsole calls`: list stored calls, or show one with its turns and events.

    voiceconsole calls [list] [--json] [--limit N] [--search TEXT] [--disposition X]
    voiceconsole calls show SID [--json]
    voiceconsole calls play SID [--speed 1|1.5|2] [--from SECONDS]   (calls_audio.py)
    voiceconsole calls export SID (--wav | --json | --csv) [--out PATH]
    voiceconsole calls edit SID [--disposition X] [--summary TEXT] [--field NAME=VALUE]...

Reads the store named by `settings.data.db`; it never creates the file, so a fresh
install says "no calls yet" instead of leaving an empty database behind. What it prints is
`printable` (console.safe_text): the store keeps what callers sent, terminal escapes included.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from console.commands import calls_audio
from console.commands.call_store import store_path, with_repository
from console.safe_text import json_printable, printable

if TYPE_CHECKING:
    from console.storage.records import (
        CallDetail,
        CallRecord,
        StoredEvent,
        TurnMetrics,
        TurnRecord,
    )

LIST_COLUMNS = (
    ("STARTED", "started"),
    ("CALL SID", "call_sid"),
    ("FROM", "from_number"),
    ("TO", "to_number"),
    ("PROFILE", "profile"),
    ("STATUS", "status"),
    ("DURATION", "duration"),
    ("TURNS", "turn_count"),
    ("DISPOSITION", "disposition"),
    ("", "emergency"),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("calls", help="list stored calls; show, play or export one")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--limit", type=_positive_int, default=50, metavar="N", help="at most N calls (50)"
    )
    parser.add_argument("--search", metavar="TEXT", help="words said, or part of a SID/number")
    parser.add_argument("--disposition", metavar="X", help="only calls that came to X (booked...)")
    parser.set_defaults(func=list_command)
    actions = parser.add_subparsers(dest="calls_action", metavar="ACTION")
    _register_list(actions)
    _register_edit(actions)
    show = actions.add_parser("show", help="one call with its turns, events and metrics")
    show.add_argument("sid", metavar="SID", help="the Twilio call SID (CA...)")
    # SUPPRESS: `calls --json show SID` keeps the --json given before `show`.
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    show.set_defaults(func=show_command)
    calls_audio.register(actions)  # play and export: the recording (issue 14)


def _register_list(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`calls list ...`: the same as `calls ...`, said out loud."""
    listing = actions.add_parser("list", help="stored calls, newest first (the default)")
    # SUPPRESS: options given before `list` are kept.
    listing.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    listing.add_argument("--limit", type=_positive_int, metavar="N", default=argparse.SUPPRESS)
    listing.add_argument("--search", metavar="TEXT", default=argparse.SUPPRESS)
    listing.add_argument("--disposition", metavar="X", default=argparse.SUPPRESS)
    listing.set_defaults(func=list_command)


def _register_edit(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edit = actions.add_parser("edit", help="correct a call's summary, disposition or fields "
                                           "(stored with an audit row: who, when, old, new)")
    edit.add_argument("sid", metavar="SID", help="the Twilio call SID (CA...)")
    edit.add_argument("--disposition", metavar="X", help="one of the call's profile's list")
    edit.add_argument("--summary", metavar="TEXT", help="the new summary")
    edit.add_argument("--field", action="append", default=[], metavar="NAME=VALUE",
                      help="an extracted field (repeatable; an empty VALUE clears it)")
    edit.add_argument("--actor", metavar="NAME", help="who made the edit (default: your login)")
    edit.set_defaults(func=edit_command)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def list_command(args: argparse.Namespace) -> int:
    db_path = store_path()
    if not db_path.exists():
        print("[]" if args.json else printable(f"no calls yet (no database at {db_path})"))
        return 0
    calls = with_repository(db_path, lambda repo: repo.list_calls(
        limit=args.limit, search=args.search, disposition=args.disposition))
    if args.json:
        print(_json([call.to_json() for call in calls]))
    elif calls:
        print(format_table(calls))
    else:
        print("no calls match" if args.search or args.disposition else "no calls yet")
    return 0


def show_command(args: argparse.Namespace) -> int:
    db_path = store_path()
    call = (with_repository(db_path, lambda repo: repo.get_call(args.sid))
            if db_path.exists() else None)
    if call is None:
        print(printable(f"no call {args.sid} in {db_path}"), file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(_json(call.to_json()))
    else:
        print(format_call(call))
    return 0


def edit_command(args: argparse.Namespace) -> int:
    from console.commands.call_edits import run_edit

    return run_edit(args, store_path())


# ---------------------------------------------------------------------------- text output


def _json(value: object) -> str:
    """The same data, with C1 controls and the like escaped (json.dumps leaves them raw)."""
    return json_printable(json.dumps(value, indent=2, ensure_ascii=False))


def format_table(calls: list[CallRecord]) -> str:
    cells = [[title for title, _ in LIST_COLUMNS]]
    cells += [[_cell(key, call) for _, key in LIST_COLUMNS] for call in calls]
    widths = [max(len(row[i]) for row in cells) for i in range(len(LIST_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def _cell(key: str, call: CallRecord) -> str:
    if key == "started":
        return _when(call.started)
    if key == "duration":
        return _duration(call.duration) if call.duration is not None else printable(call.status)
    if key == "emergency":
        return "EMERGENCY" if call.emergency else ""
    value = getattr(call, key)
    return "" if value is None else printable(value)


def format_call(call: CallDetail) -> str:
    lines = [
        f"call {call.call_sid}  {call.status}"
        + (f" ({call.end_reason})" if call.end_reason else "")
        + ("  EMERGENCY" if call.emergency else ""),
        f"  from {call.from_number or '?'} to {call.to_number or '?'}"
        f"  profile {call.profile or '-'}  stream {call.stream_sid or '-'}",
        f"  started {_when(call.started)}  ended {_when(call.ended)}"
        f"  duration {_duration(call.duration)}",
        "turns:",
        *(_turn_line(turn) for turn in call.turns),
        "events:",
        *(_event_line(event) for event in call.events),
    ]
    if call.metrics:
        lines += ["metrics (ms):", *(_metric_line(group) for group in call.metrics)]
    lines += _summary_lines(call)
    return "\n".join(printable(line) for line in lines)  # each line stays one line


def _summary_lines(call: CallRecord) -> list[str]:
    if not call.disposition:
        return []
    lines = [f"summary ({call.summary_source or '?'}): {call.disposition}",
             f"  {call.summary or ''}"]
    lines += [f"  to do: {item}" for item in call.action_items]
    lines += [f"  {name}: {value}" for name, value in call.fields.items()]
    return lines


def _turn_line(turn: TurnRecord) -> str:
    mark = "  [interrupted]" if turn.interrupted else ""
    return f"  {turn.idx:>3} {_clock(turn.started)} {turn.role:<8} {turn.text}{mark}"


def _event_line(event: StoredEvent) -> str:
    payload = dict(event.payload)
    shown = json_printable(json.dumps(payload, ensure_ascii=False)) if payload else ""
    return f"  {_clock(event.at)} {event.kind:<20} {shown}".rstrip()


def _metric_line(group: TurnMetrics) -> str:
    stages = "  ".join(f"{stage}={_ms(ms)}" for stage, ms in group.stages.items())
    return f"  turn {group.turn:>3}  {stages}"


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def _clock(epoch: float | None) -> str:
    return (
        "--:--:--.---"
        if epoch is None
        else datetime.fromtimestamp(epoch).strftime("%H:%M:%S.%f")[:-3]
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"
