"""The live calls table on its own: what the operator sees and where the cursor goes."""

from __future__ import annotations

from textual.app import App, ComposeResult

from console.tui.call_state import Alert, CallState
from console.tui.widgets.calls_table import CallsTable

from .conftest import wait_until


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CallsTable(id="calls")

    @property
    def table(self) -> CallsTable:
        return self.query_one(CallsTable)


def calls(count: int) -> list[CallState]:
    return [CallState(f"CA{i}", started_at=0.0, caller=f"+1555000{i:04d}") for i in range(count)]


def screen_line(table: CallsTable, y: int) -> str:
    return table.render_line(y).text


async def test_each_call_is_a_line_under_the_header_with_its_columns() -> None:
    app = TableApp()
    async with app.run_test(size=(110, 8)):
        app.table.sync(calls(2), now=75.0)
        assert screen_line(app.table, 0).split()[:4] == ["Risk", "Caller", "Profile", "State"]
        assert screen_line(app.table, 1).split()[:5] == [
            "—", "+15550000000", "—", "greeting", "1:15"]
        assert screen_line(app.table, 2).split()[1] == "+15550000001"


async def test_the_cursor_stays_on_its_call_when_an_earlier_call_leaves_the_board() -> None:
    app = TableApp()
    async with app.run_test(size=(110, 8)) as pilot:
        board = calls(3)
        app.table.sync(board, now=10.0)
        app.table.focus()
        await pilot.press("down", "down")
        assert app.table.selected_sid() == "CA2"
        app.table.sync(board[1:], now=11.0)
        assert app.table.selected_sid() == "CA2"


async def test_the_cursor_moves_with_its_call_when_the_board_reorders_and_says_nothing_new(
) -> None:
    highlighted: list[str | None] = []

    class WatchingApp(TableApp):
        def on_calls_table_highlighted(self) -> None:
            highlighted.append(self.table.selected_sid())

    app = WatchingApp()
    async with app.run_test(size=(110, 8)) as pilot:
        board = calls(3)
        app.table.sync(board, now=10.0)
        app.table.focus()
        await pilot.press("down")
        await wait_until(pilot, lambda: highlighted[-1:] == ["CA1"])
        app.table.sync([board[2], board[0], board[1]], now=11.0)  # CA2 rose to the top
        await pilot.pause()
        assert app.table.selected_sid() == "CA1" and app.table.cursor_row == 2
        assert screen_line(app.table, 3).split()[1] == "+15550000001"
        assert highlighted == ["CA0", "CA1"]  # the first line, then the key: not the reorder


async def test_an_acknowledged_alert_changes_how_its_flag_looks() -> None:
    # The words stay the same, only the style changes: a table that compares text alone (as
    # rich's Text equality does) would keep showing the alert as unacknowledged.
    app = TableApp()
    async with app.run_test(size=(110, 8)):
        call = calls(1)[0]
        call.alert = Alert(phrase="chest pain", source="caller", text="chest pain", at=5.0)
        app.table.sync([call], now=10.0)
        assert str(app.table.get_cell("CA0", "alert").style) == "bold white on red"
        call.alert.acknowledged = True
        app.table.sync([call], now=10.0)
        assert str(app.table.get_cell("CA0", "alert").style) == "bold red"


async def test_moving_past_the_bottom_scrolls_the_cursor_into_view() -> None:
    app = TableApp()
    async with app.run_test(size=(110, 8)) as pilot:
        app.table.sync(calls(30), now=10.0)
        app.table.focus()
        await pilot.press("end")
        await wait_until(pilot, lambda: app.table.scroll_offset.y > 0)
        assert app.table.selected_sid() == "CA29"
        last_visible = app.table.scrollable_content_region.height - 1
        assert screen_line(app.table, last_visible).split()[1] == "+15550000029"
        await pilot.press("home")
        await wait_until(pilot, lambda: app.table.scroll_offset.y == 0)
        assert app.table.selected_sid() == "CA0"


async def test_clicking_a_call_picks_it() -> None:
    picked: list[str] = []

    class PickingApp(TableApp):
        def on_calls_table_picked(self, message: CallsTable.Picked) -> None:
            picked.append(message.call_sid)

    app = PickingApp()
    async with app.run_test(size=(110, 8)) as pilot:
        app.table.sync(calls(3), now=10.0)
        await pilot.click(CallsTable, offset=(3, 2))  # line 0 is the header
        await wait_until(pilot, lambda: picked)
        assert picked == ["CA1"] and app.table.selected_sid() == "CA1"


async def test_only_the_lines_whose_time_turned_are_due_for_a_repaint() -> None:
    """Calls start at every phase of the second: the board repaints each line as its own time
    turns, a few at a time, instead of every line at once on the clock's tick (one long stall
    of the loop the calls' audio shares)."""
    app = TableApp()
    board = [CallState(f"CA{i}", started_at=i * 0.25, caller=f"+1555000{i:04d}")
             for i in range(4)]
    ended = CallState("CA9", started_at=0.0, ended_at=3.0, caller="+15550009999")
    async with app.run_test(size=(110, 8)):
        app.table.sync([*board, ended], now=10.1)  # shown: 0:10, 0:09, 0:09, 0:09
        assert app.table.times_moved([*board, ended], now=10.2) == frozenset()
        assert app.table.times_moved([*board, ended], now=10.3) == {"CA1"}  # 0:10 now
        assert app.table.times_moved([*board, ended], now=10.8) == {"CA1", "CA2", "CA3"}
        assert app.table.times_moved([*board, ended], now=11.05) == {"CA0", "CA1", "CA2", "CA3"}
