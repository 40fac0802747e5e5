"""Past calls from the call store: full-text search, filters, a call in detail, exports.

Every database read and export runs in a thread worker (`thread=True`); results come back to the
loop with `call_from_thread`. A new query cancels the one in flight (exclusive), and typing waits
0.3 s before it queries (about the pause between typed words).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Select, Static
from textual.worker import get_current_worker

from console import profiles
from console.safe_text import printable
from console.storage.records import CallRecord
from console.tui.backend import HistorySource
from console.tui.records import row_cells
from console.tui.screens.call_record import CallRecordScreen, run_export
from console.tui.widgets.printable_input import PrintableInput

PAGE = 200  # calls listed at once, newest first; a narrower search reaches older ones
TYPING_PAUSE = 0.3
COLUMNS = ("Started", "Caller", "Profile", "Duration", "Turns", "Ended", "Emergency", "Outcome")
SINCE = (("any time", "any"), ("today", "today"), ("last 7 days", "7"), ("last 30 days", "30"))
EMERGENCY = (("all calls", "all"), ("emergencies only", "yes"), ("no emergency", "no"))
ANY_PROFILE = ("any profile", "*")
ANY_DISPOSITION = ("any outcome", "*")
SEARCH_HINT = "words said, a number or a call SID"


@dataclass(frozen=True)
class HistoryFilter:
    search: str = ""
    since: str = "any"
    profile: str = "*"
    emergency: str = "all"
    disposition: str = "*"

    def query(self, now: float) -> dict[str, Any]:
        """Keyword arguments for HistorySource.list_calls."""
        query = {
            "search": self.search.strip() or None,
            "profile": None if self.profile == "*" else self.profile,
            "emergency": {"yes": True, "no": False}.get(self.emergency),
            "since": since_epoch(self.since, now),
        }
        if self.disposition != "*":  # only when chosen: older history sources lack it
            query["disposition"] = self.disposition
        return query


def since_epoch(choice: str, now: float) -> float | None:
    if choice == "any":
        return None
    midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    days = 0 if choice == "today" else int(choice)
    return (midnight - timedelta(days=days)).timestamp()


class HistoryScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_record", "Open"),  # the table's own enter opens it, too
        Binding("slash", "search", "Search"),
        Binding("j", "export('json')", "Export JSON"),
        Binding("c", "export('csv')", "Export CSV"),
    ]

    def __init__(self, history: HistorySource, clock: Callable[[], float]) -> None:
        super().__init__()
        self._history = history
        self._clock = clock
        self._typing: Timer | None = None
        self.loaded = False  # the latest query has answered (tests and screenshots wait on it)
        self.profile_names: list[str] | None = None  # offered in the filter once read
        self.dispositions: list[str] | None = None  # every profile's, in the filter once read

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="history-filters"):
            yield PrintableInput(placeholder=SEARCH_HINT, id="history-search")
            yield Select(SINCE, value="any", allow_blank=False, id="history-since")
            yield Select([ANY_PROFILE], value="*", allow_blank=False, id="history-profile")
            yield Select(EMERGENCY, value="all", allow_blank=False, id="history-emergency")
            yield Select([ANY_DISPOSITION], value="*", allow_blank=False,
                         id="history-disposition")
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Static("loading…", id="history-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "past calls"
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.query_one(DataTable).focus()
        self._load_profiles()
        self.reload()

    # -- querying -------------------------------------------------------------------------------

    def current_filter(self) -> HistoryFilter:
        return HistoryFilter(
            search=self.query_one("#history-search", Input).value,
            since=str(self.query_one("#history-since", Select).value),
            profile=str(self.query_one("#history-profile", Select).value),
            emergency=str(self.query_one("#history-emergency", Select).value),
            disposition=str(self.query_one("#history-disposition", Select).value),
        )

    def reload(self) -> None:
        chosen = self.current_filter()
        self._fetch(chosen, chosen.query(self._clock()))

    @work(thread=True, exclusive=True, group="history-query", name="history query")
    def _fetch(self, chosen: HistoryFilter, query: dict[str, Any]) -> None:
        problem: str | None = None
        try:
            rows = self._history.list_calls(PAGE, 0, **query)
        except Exception as error:  # a locked or damaged database: say so, keep the screen
            rows, problem = [], f"could not read the call history: {error}"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, chosen, rows, problem)

    def _show(self, chosen: HistoryFilter, rows: list[CallRecord], problem: str | None) -> None:
        if not self.is_mounted:
            return  # closed while the query ran
        table = self.query_one(DataTable)
        table.clear()
        for call in rows:
            table.add_row(*row_cells(call), key=call.call_sid)
        # Text, not markup: the summary quotes the search, an error may quote anything.
        status = printable(problem or _summary(chosen, rows))
        self.query_one("#history-status", Static).update(Text(status))
        self.loaded = True

    @work(thread=True, group="history-profiles", name="history profiles")
    def _load_profiles(self) -> None:
        names = profiles.list_profiles()  # reads the profile folders
        self.app.call_from_thread(self._offer_profiles, names)
        self.app.call_from_thread(self._offer_dispositions, profile_dispositions(names))

    def _offer_profiles(self, names: list[str]) -> None:
        if not self.is_mounted:
            return
        self.profile_names = names
        select = self.query_one("#history-profile", Select)
        with select.prevent(Select.Changed):  # new choices, same filter: no second query
            select.set_options([ANY_PROFILE, *((Text(printable(name)), name) for name in names)])
            select.value = "*"

    def _offer_dispositions(self, dispositions: list[str]) -> None:
        if not self.is_mounted:
            return
        self.dispositions = dispositions
        select = self.query_one("#history-disposition", Select)
        with select.prevent(Select.Changed):
            select.set_options([ANY_DISPOSITION, *((Text(printable(d)), d) for d in dispositions)])
            select.value = "*"

    def on_input_changed(self, _: Input.Changed) -> None:
        if self._typing is not None:
            self._typing.stop()
        self._typing = self.set_timer(TYPING_PAUSE, self.reload, name="history typing pause")

    def on_input_submitted(self, _: Input.Submitted) -> None:
        if self._typing is not None:
            self._typing.stop()
        self.reload()
        self.query_one(DataTable).focus()

    def on_select_changed(self, _: Select.Changed) -> None:
        if self.is_mounted:
            self.reload()

    # -- actions --------------------------------------------------------------------------------

    def selected_sid(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def listed_sids(self) -> list[str]:
        return [str(key.value) for key in self.query_one(DataTable).rows]

    def action_open_record(self) -> None:
        sid = self.selected_sid()
        if sid is not None:
            self.app.push_screen(CallRecordScreen(self._history, sid))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(CallRecordScreen(self._history, str(event.row_key.value)))

    def action_search(self) -> None:
        self.query_one("#history-search", Input).focus()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(DataTable).focus()
        else:
            self.app.pop_screen()

    def action_export(self, kind: str) -> None:
        sids = self.listed_sids()
        if not sids:
            self.notify("Nothing to export: no call matches", severity="warning")
            return
        export = partial(run_export, self, self._history, kind, sids, "calls")
        self.run_worker(export, thread=True, name=f"export {kind}", group="export")


def profile_dispositions(names: list[str]) -> list[str]:
    """Every disposition the profiles name, each once, in their order. Reads the files."""
    found: dict[str, None] = {}
    for name in names:
        try:
            found.update(dict.fromkeys(profiles.load_profile(name).summary.dispositions))
        except profiles.ProfileError:
            continue  # an invalid profile is reported where it is used
    return list(found)


def _summary(chosen: HistoryFilter, rows: list[CallRecord]) -> str:
    count = f"{len(rows)}{'+' if len(rows) >= PAGE else ''} call{'s' if len(rows) != 1 else ''}"
    matching = f" matching “{chosen.search.strip()}”" if chosen.search.strip() else ""
    return f"{count}{matching} · enter opens a call · j / c export these as JSON / CSV"
