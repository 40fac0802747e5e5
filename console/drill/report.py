"""A drill's report as the operator reads it: a rich table, printed, or exported as SVG (the
README's screenshot). It renders the report's dict form (`DrillReport.to_dict()`), so a report
read back from the store prints exactly as it did when the drill ended."""

from __future__ import annotations

import io
import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from console.drill.scenarios import REACTIONS
from console.safe_text import printable

WIDTH = 100
_HEADINGS = {"acknowledge": "Acknowledge", "take-over": "Take over", "transfer": "Transfer"}


def render(report: dict[str, Any]) -> RenderableType:
    """The report: a headline, a row per scenario, then why each miss was one."""
    return Group(_headline(report), _table(report), *_footnotes(report))


def report_text(report: dict[str, Any], width: int = WIDTH) -> str:
    """The report as plain text (no colour), as `voiceconsole drill` prints it to a pipe."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False).print(render(report))
    return out.getvalue()


def report_svg(report: dict[str, Any], width: int = WIDTH) -> str:
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True)
    console.print(render(report))
    return console.export_svg(title="voiceconsole drill")


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:  # a pipe or a file: as wide as the report needs
        console = Console(width=WIDTH)
    console.print(render(report))


def _headline(report: dict[str, Any]) -> Text:
    score, misses = report.get("score"), report.get("misses", 0)
    text = Text.assemble(("Drill ", "bold"), (printable(report["drill_id"]), "bold"),
                         f" · {when(report['started'])} · {len(report['results'])} calls")
    if report.get("operators"):
        text.append(f" · {', '.join(printable(o) for o in report['operators'])}")
    text.append("\nScore ")
    text.append("—" if score is None else f"{score}/100", style="bold")
    text.append(f" · {misses} miss{'' if misses == 1 else 'es'}",
                style="bold red" if misses else "green")
    return text


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def _table(report: dict[str, Any]) -> Table:
    table = Table(expand=False, show_lines=False,
                  caption="seconds after the clock started · points (100 within a quarter of "
                  "the limit, 0 at it)", caption_justify="left")
    table.add_column("Scenario", ratio=1)  # these two wrap in a narrow terminal...
    table.add_column("Clock from", ratio=1)
    for name in REACTIONS:  # ...the times never do
        table.add_column(_HEADINGS[name], no_wrap=True, justify="right", min_width=11)
    for result in report["results"]:
        table.add_row(printable(result["title"]), _cue(result), *_cells(result))
    return table


def _cue(result: dict[str, Any]) -> Text:
    if result["cue_at"] is None:
        return Text("never came", style="yellow")
    return Text(result["cue"])


def _cells(result: dict[str, Any]) -> list[Text]:
    if result["cue_at"] is None:
        return [Text("not scored", style="dim")] + [Text("")] * (len(REACTIONS) - 1)
    by_name = {r["name"]: r for r in result["reactions"]}
    return [_cell(by_name.get(name)) for name in REACTIONS]


def _cell(reaction: dict[str, Any] | None) -> Text:
    if reaction is None:
        return Text("—", style="dim")
    if reaction["missed"]:
        return Text.assemble(("MISS", "bold white on red"), f" >{reaction['limit_s']:g} s")
    style = "green" if reaction["points"] == 100 else "yellow"
    return Text(f"{reaction['seconds']:.1f} s · {reaction['points']:3d}", style=style)


def _footnotes(report: dict[str, Any]) -> list[Text]:
    notes = []
    for result in report["results"]:
        if result["cue_at"] is None:
            notes.append(Text(f"{printable(result['title'])}: not scored, "
                              f"{printable(result['note'] or 'its cue never came')}.", style="dim"))
        for reaction in result["reactions"]:
            if reaction["missed"]:
                notes.append(Text(f"{printable(result['title'])}, {reaction['name']}: "
                                  f"missed, {reaction['why']}."))
    return notes
