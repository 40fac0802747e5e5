"""The operator console: watch every call, step in when needed.

The app owns no call infrastructure. It starts and stops the runtime it is handed (which shares
this event loop), listens to the bus through `EventBridge`, and acts only through `CallControl`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from console.audio_io import AudioDevices
from console.safe_text import printable
from console.tui.audio_desk import AudioDesk
from console.tui.backend import ConsoleBackend
from console.tui.board import CallBoard
from console.tui.bridge import BoardChanged, EmergencyRaised, EventBridge
from console.tui.gate_keys import WaitingReplies
from console.tui.operator import OperatorActions
from console.tui.ranking import risk_setup
from console.tui.screens.alert import AlertScreen
from console.tui.screens.base import BoardView
from console.tui.screens.call_view import CallViewScreen
from console.tui.screens.dashboard import CallChosen, DashboardScreen
from console.tui.screens.history import HistoryScreen
from console.tui.screens.webhooks import WebhooksScreen

log = logging.getLogger(__name__)

KEEP_ENDED_FOR = 120.0  # seconds an ended call stays on the dashboard (the database keeps it)
TICK = 1.0  # durations and the status bar change once a second, no faster


class VoiceConsoleApp(OperatorActions, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "voiceconsole"
    BINDINGS = [
        Binding("t", "take_over", "Take over"),
        Binding("t", "hand_back", "Hand back"),
        Binding("m", "mute(True)", "Mute"),
        Binding("m", "mute(False)", "Unmute"),
        Binding("s", "say", "Say"),
        Binding("w", "whisper", "Whisper"),
        Binding("x", "transfer", "Transfer"),
        # Issue 15: warm transfer. Off the footer like "o" (its snapshots are shared).
        Binding("X", "warm_transfer", "Warm transfer", show=False),
        Binding("h", "hang_up", "Hang up"),
        Binding("l", "listen_in", "Listen"),
        Binding("p", "history", "History"),
        # Not in the footer (its snapshots are shared with every screen): README, status bar.
        Binding("o", "webhooks", "Webhooks", show=False),
        # issue 15 (README; not in the footer, whose snapshots every screen shares)
        Binding("c", "catch_up", "Catch up", show=False),
        Binding("M", "mute_caller(True)", "Mute caller", show=False),
        Binding("M", "mute_caller(False)", "Unmute caller", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        clock: Callable[[], float] = time.time,
        actor: str = "console",
        refresh_interval: float = 0.1,
        audio: AudioDevices | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.actor = actor
        self.board = CallBoard(risk_setup(backend))  # weights from settings, phrases per profile
        self.startup_steps: dict[str, str] = {}
        self.started = False
        self._clock = clock
        self.bridge = EventBridge(self.board, self.post_message, refresh_interval)
        self.dashboard = DashboardScreen(self.board, clock, self.startup_steps)
        self.audio_devices = audio or AudioDevices()  # listen-in, the microphone, replays
        self.audio_desk = AudioDesk(backend.listen_in, backend.control, self.audio_devices)
        self._stopping: asyncio.Task[None] | None = None  # the one runtime shutdown, once begun
        self.waiting_replies = WaitingReplies()  # issue 15: a gated reply asks for the operator

    # -- lifecycle ------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return self.dashboard

    def on_mount(self) -> None:
        self.bridge.attach(self.backend.bus)  # before start: the first call must not be missed
        self.set_interval(TICK, self._tick, name="console clock")
        self.run_worker(self._start_backend(), name="backend start", group="start")

    async def _start_backend(self) -> None:
        try:
            await self.backend.start(self._progress)
        except Exception as error:  # the operator must read why; the console stays open
            log.exception("runtime start-up failed")
            self._progress("start-up", f"failed: {error}")
            self.notify(f"Start-up failed: {error}", severity="error", timeout=30, markup=False)
            return
        self.started = True
        _settle_heap()
        self.dashboard.show_startup(finished_ok=True)
        self.call_after_refresh(self._tick)  # the dashboard may still be mounting

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification (screens' too) loses what a terminal would obey. Ours pass
        `markup=False` when they quote anything from outside: an error, a caller, the store."""
        message, title = printable(message, multiline=True), printable(title)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _progress(self, step: str, status: str) -> None:
        self.startup_steps[step] = status
        self.dashboard.show_startup(finished_ok=False)

    async def action_quit(self) -> None:
        if self._stopping is not None:
            return  # already on the way out; a second ctrl+q must not cut the shutdown short
        self.notify("Shutting down: ending calls, restoring the webhook, closing the tunnel…")
        self._begin_stop()
        # A worker, so the console keeps painting while the runtime winds down.
        self.run_worker(self._stop_then_exit(), name="shutdown", group="shutdown")

    async def _stop_then_exit(self) -> None:
        await self.stop_backend()
        self.exit()

    async def on_unmount(self) -> None:
        await self.stop_backend()  # every other way out (errors, test harness) stops it too
        gc.unfreeze()  # the process may live on (tests, a second console): let it all be collected

    async def stop_backend(self) -> None:
        """Stop the runtime once, whichever way the console is leaving, and wait for it."""
        # Shielded: the ordered shutdown (webhook restore, tunnel close) outlives its waiters.
        await asyncio.shield(self._begin_stop())

    def _begin_stop(self) -> asyncio.Task[None]:
        if self._stopping is None:
            self.workers.cancel_group(self, "start")
            self.bridge.detach()
            self._stopping = asyncio.create_task(self._stop_runtime(), name="runtime stop")
        return self._stopping

    async def _stop_runtime(self) -> None:
        await self.audio_desk.close()  # the sound card first: its calls are about to end
        try:
            await self.backend.stop()
        except Exception:
            log.exception("runtime shutdown failed")

    # -- board and status -----------------------------------------------------------------------

    def on_board_changed(self, message: BoardChanged) -> None:
        self._refresh_screens(message.call_sids)
        self.sync_audio(message.call_sids)
        self.refresh_call_bindings()  # take over/hand back and mute/unmute follow the call
        self.waiting_replies.check(self, message.call_sids)

    def on_emergency_raised(self, message: EmergencyRaised) -> None:
        self.bell()
        if not any(isinstance(screen, AlertScreen) for screen in self.screen_stack):
            self.push_screen(AlertScreen(self.board), self._after_alert)
        self._refresh_screens(frozenset({message.call_sid}))

    def _after_alert(self, _: None) -> None:
        self._refresh_screens(frozenset())

    def on_call_chosen(self, message: CallChosen) -> None:
        self.push_screen(CallViewScreen(message.call_sid, self.board, self._clock))
        self.record_acknowledged(message.call_sid, "opened")  # issue 15: drills measure it
        self.call_after_refresh(self._tick)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "history":  # one history screen in the stack is enough
            return not any(isinstance(screen, HistoryScreen) for screen in self.screen_stack)
        return super().check_action(action, parameters)

    def action_history(self) -> None:
        self.push_screen(HistoryScreen(self.backend.history, self._clock))

    def action_webhooks(self) -> None:
        """The end-of-call webhook's dead letters and pending deliveries (screens/webhooks.py)."""
        if (source := getattr(self.backend, "deliveries", None)) is None:
            self.notify("This backend has no webhook outbox", severity="warning")
        elif not isinstance(self.screen, WebhooksScreen):
            self.push_screen(WebhooksScreen(source, self._clock))

    def _tick(self) -> None:
        self.board.prune(self._clock(), KEEP_ENDED_FOR)
        try:
            status = self.backend.status()
        except Exception:  # a status glitch must not stop the calls from being watched
            log.exception("runtime status failed")
            status = {}
        for screen in self._views():
            screen.refresh_status(status)
        # Empty, not the calls just forgotten: every row's time moves (a sync recomputes only
        # the named calls' rows), and a call gone is gone from every screen's re-read anyway.
        self._refresh_screens(frozenset())

    def _refresh_screens(self, changed: frozenset[str]) -> None:
        for screen in self._views():
            screen.refresh_board(changed)

    def _views(self) -> list[BoardView]:
        return [s for s in self.screen_stack if isinstance(s, BoardView) and s.is_mounted]


def _settle_heap() -> None:
    """Once start-up is done, before the first call, freeze what exists (modules, SDK clients,
    the runtime, the first screens) so later full collections skip it. Measured on the console
    with the cloud stack: a full collection took 85-134 ms with ~136k objects tracked (the
    pacer's lead is 100 ms, so that can be heard) and 9-42 ms with them frozen; each screen
    pushed and popped leaves ~30k cyclic objects for the collector. No `gc.collect()` first: it
    would itself stall the loop ~100 ms; start-up garbage frozen with the rest is a one-off."""
    gc.freeze()
