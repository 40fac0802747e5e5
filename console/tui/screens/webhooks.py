"""End-of-call webhook deliveries that need an operator: dead-lettered ones (with why), and those
still waiting for their next attempt. `r` puts the selected one back in the queue, due now.

The outbox is read in thread workers (it is SQLite), every few seconds while the screen is open.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.safe_text import printable
from console.storage.records import Delivery

COLUMNS = ("ID", "Status", "Call", "Attempts", "Next attempt", "Last error")
REFRESH_S = 3.0  # the worker's backoff is seconds to minutes: this is often enough to follow it
ERROR_CHARS = 80


class DeliverySource(Protocol):
    """The outbox as the console sees it (`console.handoff.worker.Deliveries`). BLOCKING:
    call from thread workers only."""

    def list_deliveries(self) -> list[Delivery]:
        """Dead and pending deliveries, newest first, without their bodies."""
        ...

    def retry(self, delivery_id: int) -> bool:
        """Back in the queue, due now; False if unknown or delivered already."""
        ...


class WebhooksScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "retry", "Retry"),
    ]

    def __init__(self, source: DeliverySource, clock: Callable[[], float]) -> None:
        super().__init__()
        self._source = source
        self._clock = clock
        self.loaded = False  # the latest read has answered (tests wait on it)

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="webhooks-table", cursor_type="row", zebra_stripes=True)
        yield Static("loading…", id="webhooks-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "end-of-call webhook: dead letters and pending deliveries"
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.query_one(DataTable).focus()
        self.reload()
        self.set_interval(REFRESH_S, self.reload, name="webhooks refresh")

    def reload(self) -> None:
        self._fetch()

    @work(thread=True, exclusive=True, group="webhooks-read", name="webhooks read")
    def _fetch(self) -> None:
        try:
            rows, problem = self._source.list_deliveries(), None
        except Exception as error:  # a locked or damaged database: say so, keep the screen
            rows, problem = [], f"could not read the webhook outbox: {error}"
        self.app.call_from_thread(self._show, rows, problem)

    def _show(self, rows: list[Delivery], problem: str | None) -> None:
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*self._cells(row), key=str(row.id))
        table.move_cursor(row=min(cursor, max(0, table.row_count - 1)))
        dead = sum(row.status == "dead" for row in rows)
        status = problem or f"{dead} dead, {len(rows) - dead} pending · r retries the selected one"
        self.query_one("#webhooks-status", Static).update(Text(printable(status)))
        self.loaded = True

    def _cells(self, row: Delivery) -> tuple[Text, ...]:
        dead = row.status == "dead"
        cells = (str(row.id), row.status, row.call_sid, str(row.attempts),
                 "-" if dead else _when(row.next_attempt_at, self._clock()),
                 (row.last_error or "")[:ERROR_CHARS])
        # Text, never markup: the last error quotes whatever the receiver answered.
        return tuple(Text(printable(cell), style="bold red" if dead and i == 1 else "")
                     for i, cell in enumerate(cells))

    def selected_id(self) -> int | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None  # rows are added keyed by delivery id

    def action_retry(self) -> None:
        delivery_id = self.selected_id()
        if delivery_id is not None:
            self._retry(delivery_id)

    @work(thread=True, group="webhooks-retry", name="webhooks retry")
    def _retry(self, delivery_id: int) -> None:
        queued = self._source.retry(delivery_id)
        self.app.call_from_thread(self._retried, delivery_id, queued)

    def _retried(self, delivery_id: int, queued: bool) -> None:
        if queued:
            self.notify(f"Delivery {delivery_id} queued again")
        else:
            self.notify(f"Delivery {delivery_id} cannot be retried (delivered already?)",
                        severity="warning")
        if self.is_mounted:
            self.reload()


def _when(epoch: float | None, now: float) -> str:
    if epoch is None:
        return "-"
    if epoch <= now:
        return "due now"
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S")
