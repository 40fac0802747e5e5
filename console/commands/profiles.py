"""`voiceconsole profiles`: the agent profiles, where each comes from, and whether it is valid.

    voiceconsole profiles [list]               every profile: name, source (packaged, override,
                                               new) and its title
    voiceconsole profiles check [NAME...]      validate every profile (or the named ones); each
                                               problem names file and field; exit 1 on any
    voiceconsole profiles copy NAME [--as NEW] [--force]
                                               copy a packaged profile into your profiles folder
                                               to edit it (--as: as a new profile)

The packaged profiles are the defaults; yours live in the data folder's `profiles/`, where a file
named like a packaged profile replaces it whole (console/profile_sources.py).
"""

from __future__ import annotations

import argparse
import sys

from console.safe_text import printable

COLUMNS = ("NAME", "SOURCE", "DESCRIPTION")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("profiles", help="list, check and copy agent profiles")
    parser.set_defaults(func=list_command)
    actions = parser.add_subparsers(dest="profiles_action", metavar="ACTION")
    listing = actions.add_parser("list", help="every profile, where it comes from, its title")
    listing.set_defaults(func=list_command)
    check = actions.add_parser("check", help="validate profiles; exit 1 on any problem")
    check.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all)")
    check.set_defaults(func=check_command)
    copy = actions.add_parser("copy", help="copy a packaged profile into your folder to edit")
    copy.add_argument("name", metavar="NAME", help="a packaged profile")
    copy.add_argument("--as", dest="new_name", metavar="NEW", help="save it as a new profile")
    copy.add_argument("--force", action="store_true", help="replace a file already there")
    copy.set_defaults(func=copy_command)


def list_command(args: argparse.Namespace) -> int:
    from console import profile_sources

    rows = [(source.name, source.origin, _description(source.name))
            for source in profile_sources.all_sources()]
    print(format_table(rows))
    print(printable(f"your profiles folder: {profile_sources.operator_dir()}"))
    return 0


def _description(name: str) -> str:
    """The profile's title, or what is wrong with it (one line: `check` gives the detail)."""
    from console.profiles import ProfileError, load_profile

    try:
        return load_profile(name).title
    except ProfileError as error:
        return f"INVALID: {error.field}: {error.problem}"


def check_command(args: argparse.Namespace) -> int:
    from console import profile_sources
    from console.profiles import ProfileError, load_profile

    names = list(dict.fromkeys(args.names or profile_sources.names()))
    problems = 0
    for name in names:
        try:
            profile = load_profile(name)
        except ProfileError as error:
            problems += 1
            print(printable(f"{name}: {error}"))
        else:
            print(printable(f"{name}: ok ({profile.source})"))
    print(f"{len(names)} checked, {problems} with problems")
    return 1 if problems else 0


def copy_command(args: argparse.Namespace) -> int:
    from console.profile_sources import CopyRefused, copy_packaged

    try:
        path = copy_packaged(args.name, args.new_name, force=args.force)
    except CopyRefused as refused:
        print(printable(f"voiceconsole profiles copy: {refused}"), file=sys.stderr)
        return 1
    print(printable(str(path)))
    what = "a new profile" if args.new_name else f"replaces the packaged {args.name} whole"
    print(printable(f"edit it ({what}), then: voiceconsole profiles check "
                    f"{args.new_name or args.name}"), file=sys.stderr)
    return 0


def format_table(rows: list[tuple[str, str, str]]) -> str:
    cells = [list(COLUMNS), *([printable(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
             for row in cells]
    return "\n".join(line.rstrip() for line in lines)
