"""The live calls table: one line per call, keyed by call SID, repainted line by line.

Not a DataTable: a DataTable re-renders every visible cell whenever any cell changes (its render
caches are keyed on a table-wide update counter). With 50 live calls the "talking" column changes
several times a second, and each change cost a 25-40 ms repaint on the loop the calls' audio
shares (measured with bench/scaling.py: own overhead p95 84 ms at 50 calls with the console, 11
ms with the table idle). Here each call's line is rendered once per change and only that line
is repainted; the clock tick that moves every duration repaints the visible lines only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.tui.call_state import CallState
from console.tui.describe import duration, millis
from console.tui.ranking import HIGH_RISK, SOME_RISK

# (key, label, width). Fixed widths, each fitting its usual longest value, e.g. "▲ 135",
# "+4915112345678", "scheduling", "transferring", "1:00:00", "operator", "9999 ms" (longer ones
# end in "…"); the last column (an alert, else the risk's top reason) takes what is left.
# Riskiest first, so risk leads.
Columns = tuple[tuple[str, str, int | None], ...]
COLUMNS: Columns = (
    ("risk", "Risk", 5),
    ("caller", "Caller", 15),
    ("profile", "Profile", 10),
    ("state", "State", 16),
    ("duration", "Time", 7),
    ("talking", "Talking", 8),
    ("latency", "V2V", 7),
    ("alert", "Why", None),
)
# A fleet's board (issue 17) names each call's media worker, after the caller. The column
# appears with the first call that has a worker: a single process's board is as it was.
WORKER_COLUMN = ("worker", "Worker", 10)
FLEET_COLUMNS: Columns = (*COLUMNS[:2], WORKER_COLUMN, *COLUMNS[2:])
GAP = 2  # spaces between columns
_TALKING_STYLE = {"caller": "bold cyan", "agent": "bold green", "operator": "bold magenta"}
RISING_STYLE = "bold black on yellow"
HEADER_LINES = 1
PAINTED_KEPT = 4  # a row's painted lines kept: plain, striped, cursor focused and not


@dataclass
class _Row:
    cells: dict[str, Text]
    text: Text  # the whole line, columns padded to their widths
    look: tuple[tuple[str, str], ...]  # what each cell shows and how: Text's == ignores style
    # The line as painted, by style and width (plain, striped, under the cursor): a row that
    # only moved to another line, as the board re-sorts, is repainted without rendering its text
    # again. A new look is a new _Row, so nothing stale is kept.
    painted: dict[tuple[Style, int], Strip] = field(default_factory=dict)


class CallsTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    CallsTable {
        background: $surface;
        overflow-x: hidden;
    }
    CallsTable > .calls-table--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    CallsTable > .calls-table--stripe {
        background: $surface-lighten-1;
    }
    CallsTable > .calls-table--cursor {
        background: $block-cursor-blurred-background;
    }
    CallsTable:focus > .calls-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    """
    COMPONENT_CLASSES = {
        "calls-table--header",
        "calls-table--stripe",
        "calls-table--cursor",
    }
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move_to(0)", "First", show=False),
        Binding("end", "move_to(-1)", "Last", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, repaint=False)

    class Highlighted(Message):
        """The cursor is on another call (the operator keys follow it). Not sent when the
        board moves the call and the cursor with it: the footer the keys redraw costs ~10 ms."""

    class Picked(Message):
        """The operator clicked a call."""

        def __init__(self, call_sid: str) -> None:
            super().__init__()
            self.call_sid = call_sid

    def __init__(self, *, id: str | None = None,  # noqa: A002 - Textual's name
                 rising_s: float = 30.0) -> None:
        super().__init__(id=id)
        self.rising_s = rising_s  # a score that rose this recently is marked ▲ (RISK_RISING_S)
        self._sids: list[str] = []
        self._rows: dict[str, _Row] = {}
        self.columns: Columns = COLUMNS
        self._announced: str | None = None  # the call the last Highlighted was about

    # -- contents ---------------------------------------------------------------------------

    @property
    def sids(self) -> list[str]:
        return list(self._sids)

    @property
    def row_count(self) -> int:
        return len(self._sids)

    def get_cell(self, sid: str, column: str) -> Text:
        return self._rows[sid].cells[column]

    def selected_sid(self) -> str | None:
        return self._sids[self.cursor_row] if self._sids else None

    def sync(self, calls: list[CallState], now: float,
             changed: frozenset[str] = frozenset()) -> None:
        """Make the lines match `calls` (in order); repaint only the lines that changed. The
        cursor stays on the call it was on. `changed`: the calls whose events came in since the
        last sync; the others' cells are recomputed only when it is empty (the clock's tick,
        once a second: durations and the rising mark move with time alone). At 50 calls the
        board syncs 10 times a second, and recomputing every row each time was most of what the
        console drew (bench/risk_cost.py)."""
        selected = self.selected_sid()
        if self.columns is COLUMNS and any(call.worker for call in calls):
            self._show_workers()
        order = [call.call_sid for call in calls]
        stale = [call for call in calls
                 if not changed or call.call_sid in changed or call.call_sid not in self._rows]
        repaint = {call.call_sid for call in stale if self._store(call, now)}
        if order != self._sids:
            moved = self._reorder(order)
            self._keep_cursor_on(selected)
            repaint |= moved
        for index, sid in enumerate(self._sids):
            if sid in repaint:
                self._refresh_row(index)
        self._announce()  # the call under the cursor may have left the board

    def times_moved(self, calls: list[CallState], now: float) -> frozenset[str]:
        """The live calls whose line shows a time that is no longer theirs. Calls start at
        every phase of the second, so asked a few times a second this names a few lines each
        time, where the clock's tick would repaint every line at once."""
        return frozenset(
            call.call_sid for call in calls
            if call.live and (row := self._rows.get(call.call_sid)) is not None
            and row.cells["duration"].plain != duration(call.duration(now)))

    def _show_workers(self) -> None:
        """A fleet: every line gets the worker column (all redrawn: they are all wider)."""
        self.columns = FLEET_COLUMNS
        self._rows = {}
        self.refresh()

    def _reorder(self, order: list[str]) -> set[str]:
        """Take the new order; the calls now on a line another call held (a rise in the ranking
        shifts only the lines between its old and new place, not the whole board)."""
        before = self._sids
        self._sids = order
        self._rows = {sid: self._rows[sid] for sid in order}
        if len(order) != len(before):
            self.virtual_size = Size(0, len(order) + HEADER_LINES)
            self.refresh()  # lines added or gone: the blank ones below repaint too
        return {sid for index, sid in enumerate(order)
                if index >= len(before) or before[index] != sid}

    def _store(self, call: CallState, now: float) -> bool:
        cells = row_cells(call, now, self.rising_s)
        look = tuple((cell.plain, str(cell.style)) for cell in cells.values())
        row = self._rows.get(call.call_sid)
        if row is not None and row.look == look:
            return False
        self._rows[call.call_sid] = _Row(cells, _line(cells, self.columns), look)
        return True

    def _keep_cursor_on(self, sid: str | None) -> None:
        index = self._sids.index(sid) if sid in self._sids else self.cursor_row
        self.cursor_row = max(0, min(index, len(self._sids) - 1))

    # -- painting ---------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y < HEADER_LINES:
            return self._strip(_header(self.columns), "calls-table--header", width)
        index = self.scroll_offset.y + y - HEADER_LINES
        if index >= len(self._sids):
            return Strip.blank(width, self.rich_style)
        row = self._rows[self._sids[index]]
        if index == self.cursor_row:
            return self._painted(row, "calls-table--cursor", width)
        return self._painted(row, "calls-table--stripe" if index % 2 else None, width)

    def _painted(self, row: _Row, component: str | None, width: int) -> Strip:
        key = (self._style(component), width)  # a theme, focus or size change paints afresh
        strip = row.painted.get(key)
        if strip is None:
            if len(row.painted) >= PAINTED_KEPT:
                row.painted.clear()
            strip = row.painted[key] = self._paint(row.text, key[0], width)
        return strip

    def _strip(self, text: Text, component: str | None, width: int) -> Strip:
        return self._paint(text, self._style(component), width)

    def _style(self, component: str | None) -> Style:
        base = self.rich_style
        if component is not None:
            base += self.get_component_rich_style(component)
        return base

    def _paint(self, text: Text, style: Style, width: int) -> Strip:
        segments = [Segment(" ")] + list(text.render(self.app.console))
        return Strip(segments).crop_extend(0, width, Style()).apply_style(style)

    def _refresh_row(self, index: int) -> None:
        y = index - self.scroll_offset.y + HEADER_LINES
        if HEADER_LINES <= y < self._lines_shown():
            self.refresh(Region(0, y, self.size.width, 1))

    def _lines_shown(self) -> int:
        return self.scrollable_content_region.height

    def on_resize(self) -> None:
        self.virtual_size = Size(0, len(self._sids) + HEADER_LINES)

    # -- cursor -----------------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        # After the next refresh: lines just added are not scrollable to before it.
        self.call_after_refresh(self._scroll_to_cursor)
        self._announce()

    def _announce(self) -> None:
        selected = self.selected_sid()
        if selected != self._announced:
            self._announced = selected
            self.post_message(self.Highlighted())

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self._lines_shown() - HEADER_LINES)
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def action_move(self, step: int) -> None:
        self._move_to(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor_row + direction * max(1, self._lines_shown() - HEADER_LINES))

    def action_move_to(self, index: int) -> None:
        self._move_to(index if index >= 0 else len(self._sids) - 1)

    def _move_to(self, index: int) -> None:
        if self._sids:
            self.cursor_row = max(0, min(index, len(self._sids) - 1))

    def on_click(self, event: Click) -> None:
        index = self.scroll_offset.y + event.y - HEADER_LINES
        if event.y >= HEADER_LINES and 0 <= index < len(self._sids):
            self.cursor_row = index
            self.post_message(self.Picked(self._sids[index]))


def row_cells(call: CallState, now: float, rising_s: float = 30.0) -> dict[str, Text]:
    dim = "" if call.live else "dim"
    holder = f" · {call.holder}" if call.holder else ""  # a fleet: the operator who has it
    state = call.state + holder + (" · muted" if call.agent_muted else "")
    rising = call.live and call.risk.rising(now, rising_s)
    return {
        "risk": risk_cell(call.risk.score, rising, dim),
        "caller": _caller(call, dim),
        "worker": Text(call.worker or "—", style=dim),
        "profile": Text(call.profile or "—", style=dim),
        "state": Text(state, style="bold magenta" if call.taken_over else dim),
        "duration": Text(duration(call.duration(now)), style=dim),
        "talking": Text(call.talking or "—", style=_TALKING_STYLE.get(call.talking, "dim")),
        "latency": Text(millis(call.last_v2v), style=dim),
        "alert": why_cell(call, rising),
    }


def _caller(call: CallState, dim: str) -> Text:
    """A drill's call (issue 15) says so before its made-up number: it is practice."""
    if not call.drill:
        return Text(call.caller, style=dim)
    return Text.assemble(("DRILL ", "bold black on yellow"), (call.drill, dim))


def risk_cell(score: int, rising: bool, dim: str) -> Text:
    """Right-aligned in its 5 columns: "  135", "▲  47" (rose within RISK_RISING_S), "    —"."""
    if rising:
        return Text(f"▲{score:>4}", style=RISING_STYLE)
    if not score:
        return Text(f"{'—':>5}", style="dim")
    style = "bold red" if score >= HIGH_RISK else "yellow" if score >= SOME_RISK else dim
    return Text(f"{score:>5}", style=style)


def why_cell(call: CallState, rising: bool) -> Text:
    """An alert first (white on red until acknowledged), else the risk's biggest reason."""
    alert = call.alert
    if alert is not None:
        style = "bold white on red" if not alert.acknowledged else "bold red"
        return Text(f"⚠ {alert.phrase or alert.text}", style=style)
    return Text(call.risk.assessment.top, style="bold" if rising else "")


def _header(columns: Columns) -> Text:
    return _line({key: Text(label) for key, label, _ in columns}, columns)


def _line(cells: dict[str, Text], columns: Columns) -> Text:
    """The columns side by side, each cut or padded to its width (the last one as it is)."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for key, _, width in columns:
        cell = cells[key].copy()
        if width is not None:
            cell.truncate(width, overflow="ellipsis", pad=True)
            cell.append(" " * GAP)
        line.append_text(cell)
    return line
