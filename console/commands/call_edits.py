"""`voiceconsole calls edit SID ...`: an operator's correction of what a call came to.

Each changed item becomes a `SummaryEdited` event, applied and kept in the events table (the
audit: who, when, what, old, new) in one transaction (console.storage.edits). A disposition must
be one of the call's profile's list, as the console's edit dialog offers.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from console.safe_text import printable

if TYPE_CHECKING:
    from console.storage.records import CallRecord


def run_edit(args: argparse.Namespace, db_path: Path) -> int:
    from console.storage.edits import InvalidEdit, summary_edits, write_edits
    from console.storage.repository import CallRepository

    try:
        changes = _changes(args)
    except ValueError as error:
        return _fail(str(error))
    if not db_path.exists():
        return _fail(f"no call {args.sid} in {db_path}")
    with CallRepository(db_path) as repository:
        call = repository.get_call(args.sid)
    if call is None:
        return _fail(f"no call {args.sid} in {db_path}")
    try:
        _check_disposition(call, changes.get("disposition"))
        edits = summary_edits(call, changes, args.actor or _login())
    except (InvalidEdit, ValueError) as error:
        return _fail(str(error))
    if edits:
        write_edits(db_path, edits)
    for edit in edits:
        print(printable(f"{edit.item}: {edit.old or '(none)'} -> {edit.new or '(none)'}"))
    print("nothing changed" if not edits else f"{len(edits)} edit(s) stored, by {edits[0].actor}")
    return 0


def _changes(args: argparse.Namespace) -> dict[str, str]:
    changes: dict[str, str] = {}
    if args.summary is not None:
        changes["summary"] = args.summary
    if args.disposition is not None:
        changes["disposition"] = args.disposition
    for item in args.field:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"--field takes NAME=VALUE, not {item!r}")
        changes[f"fields.{name.strip()}"] = value
    if not changes:
        raise ValueError("nothing to edit: give --disposition, --summary or --field")
    return changes


def _check_disposition(call: CallRecord, disposition: str | None) -> None:
    if disposition is None:
        return
    from console.profiles import ProfileError, load_profile

    try:
        allowed = load_profile(call.profile or "").summary.dispositions
    except ProfileError:
        return  # the profile is gone: any disposition the operator chooses stands
    if disposition not in allowed:
        raise ValueError(f"{disposition!r} is not a disposition of profile {call.profile} "
                         f"({', '.join(allowed)})")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _fail(message: str) -> int:
    print(printable(message), file=sys.stderr)
    return 1
