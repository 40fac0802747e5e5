"""The risk board's own CPU inside the console process, for bench/risk_cost.py (loaded by
bench/probe_server.py with `--risk on|off`; nothing is added to product code).

`on`: the scorer's entry points (RiskTracker.observe: one event folded in and the score
recomputed; CallBoard.ranked and BoardOrder.order: the board's order; CallBoard.health and
LineWatch.observe: the line's header) are wrapped to add up the CPU time of this thread they
take (time.thread_time, clock_gettime(CLOCK_THREAD_CPUTIME_ID): nanoseconds, and the console is
one thread). The two clock reads per call (~0.3 us each) are counted too, so the figure errs
high.
`off`: those entry points do nothing (the board keeps arrival order, as before issue 15).
`bare`: the board on, as shipped, its scorer not metered (what the meter's own wrapping costs the
loop shows as the difference from `on`).

`install_console_meter()` (any `--risk`, and on code from before issue 15 too) adds up, the same
way, the console's own drawing work: DashboardScreen.refresh_board (the board re-read, the table
synced, the preview and header updated) and Widget.render_lines (every widget's lines painted).
That is what the dashboard costs the loop the calls share, whatever else runs on the machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_spent = {"cpu_s": 0.0, "calls": 0}
_console = {"cpu_s": 0.0, "calls": 0}
_mode = {"risk": "on"}


def install(mode: str) -> None:
    _mode["risk"] = mode
    install_console_meter()
    if mode in ("base", "bare"):  # before issue 15, or the board on with no scorer meter
        return
    from console.risk import tracker
    from console.tui import board, ranking

    if mode == "off":
        tracker.RiskTracker.observe = lambda self, event: False  # type: ignore[method-assign]
        board.CallBoard.ranked = board.CallBoard.calls  # type: ignore[method-assign]
        ranking.BoardOrder.order = (  # type: ignore[method-assign]
            lambda self, calls, resort: list(calls))
        ranking.LineWatch.observe = lambda self, event: None  # type: ignore[method-assign]
        return
    for owner, name in ((tracker.RiskTracker, "observe"), (board.CallBoard, "ranked"),
                        (ranking.BoardOrder, "order"), (board.CallBoard, "health"),
                        (ranking.LineWatch, "observe")):
        setattr(owner, name, _metered(getattr(owner, name)))


def install_console_meter() -> None:
    from textual.widget import Widget

    from console.tui.screens.dashboard import DashboardScreen

    DashboardScreen.refresh_board = _metered(DashboardScreen.refresh_board, _console)
    Widget.render_lines = _metered(Widget.render_lines, _console)


def _metered(method: Callable[..., Any], into: dict[str, Any] = _spent) -> Callable[..., Any]:
    def metered(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            into["cpu_s"] += time.thread_time() - started
            into["calls"] += 1

    return metered


def reset() -> None:
    for spent in (_spent, _console):
        spent["cpu_s"], spent["calls"] = 0.0, 0


def summary() -> dict[str, Any]:
    return {"mode": _mode["risk"], "cpu_s": round(_spent["cpu_s"], 4), "calls": _spent["calls"],
            "console_cpu_s": round(_console["cpu_s"], 4), "console_calls": _console["calls"]}
