"""The live calls table: one row per call, keyed by call SID, updated cell by cell."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from console.tui.board import CallState
from console.tui.describe import duration, millis

# (key, label, width). Fixed widths: a cell updated in place never widens its column (that
# would re-measure the whole table on every update), so each fits its longest value, e.g.
# "transferring · muted", "+4915112345678", "medical_intake", "10:00:00", "operator", "9999 ms".
COLUMNS = (
    ("caller", "Caller", 16),
    ("profile", "Profile", 14),
    ("state", "State", 20),
    ("duration", "Duration", 8),
    ("talking", "Talking", 8),
    ("latency", "Last V2V", 8),
    ("alert", "Alert", None),
)
_TALKING_STYLE = {"caller": "bold cyan", "agent": "bold green", "operator": "bold magenta"}


class CallsTable(DataTable):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def sync(self, calls: list[CallState], now: float) -> None:
        """Make the rows match `calls`: add new ones, update changed cells, drop forgotten ones."""
        wanted = {call.call_sid for call in calls}
        for row_key in list(self.rows):
            if row_key.value not in wanted:
                self.remove_row(row_key)
        present = {row_key.value for row_key in self.rows}
        for call in calls:
            cells = row_cells(call, now)
            if call.call_sid in present:
                self._update_row(call.call_sid, cells)
            else:
                self.add_row(*cells.values(), key=call.call_sid)

    def selected_sid(self) -> str | None:
        if self.row_count == 0:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def _update_row(self, sid: str, cells: dict[str, Text]) -> None:
        for column, value in cells.items():
            if self.get_cell(sid, column) != value:
                self.update_cell(sid, column, value)


def row_cells(call: CallState, now: float) -> dict[str, Text]:
    dim = "" if call.live else "dim"
    alert = call.alert
    flag = Text("")
    if alert is not None:
        flag = Text(
            f"⚠ {alert.phrase}", style="bold white on red" if not alert.acknowledged else "bold red"
        )
    state = call.state + (" · muted" if call.agent_muted else "")
    return {
        "caller": Text(call.caller, style=dim),
        "profile": Text(call.profile or "—", style=dim),
        "state": Text(state, style="bold magenta" if call.taken_over else dim),
        "duration": Text(duration(call.duration(now)), style=dim),
        "talking": Text(call.talking or "—", style=_TALKING_STYLE.get(call.talking, "dim")),
        "latency": Text(millis(call.last_v2v), style=dim),
        "alert": flag,
    }
