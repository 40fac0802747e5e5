"""The operator console: watch every call, step in when needed.

The app owns no call infrastructure. It starts and stops the runtime it is handed (which shares
this event loop), listens to the bus through `EventBridge`, and acts only through `CallControl`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from console.tui.backend import ConsoleBackend
from console.tui.board import CallBoard, CallState
from console.tui.bridge import BoardChanged, EmergencyRaised, EventBridge
from console.tui.listen import why_listen_in_unavailable
from console.tui.screens.alert import AlertScreen
from console.tui.screens.base import BoardView
from console.tui.screens.call_view import CallViewScreen
from console.tui.screens.dashboard import CallChosen, DashboardScreen
from console.tui.screens.dialogs import ConfirmScreen, PromptScreen

log = logging.getLogger(__name__)

KEEP_ENDED_FOR = 120.0  # seconds an ended call stays on the dashboard (the database keeps it)
TICK = 1.0  # durations and the status bar change once a second, no faster

# Operator actions that need a live call selected: (action, palette title, palette help).
CALL_ACTIONS = {
    "take_over": ("Take over", "Silence the agent; you talk to the caller"),
    "hand_back": ("Hand back", "Give the call back to the agent"),
    "mute": ("Mute/unmute agent", "The agent keeps listening but does not speak"),
    "say": ("Say…", "Speak a line to the caller with the agent's voice"),
    "whisper": ("Whisper…", "Guide the agent's next reply; the caller never hears it"),
    "transfer": ("Transfer", "Transfer the call to the profile's default target"),
    "hang_up": ("Hang up", "End the call once queued audio has played"),
    "listen_in": ("Listen in", "Hear the call on this machine's speakers"),
}


class VoiceConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "voiceconsole"
    BINDINGS = [
        Binding("t", "take_over", "Take over"),
        Binding("t", "hand_back", "Hand back"),
        Binding("m", "mute(True)", "Mute agent"),
        Binding("m", "mute(False)", "Unmute agent"),
        Binding("s", "say", "Say"),
        Binding("w", "whisper", "Whisper"),
        Binding("x", "transfer", "Transfer"),
        Binding("h", "hang_up", "Hang up"),
        Binding("l", "listen_in", "Listen"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        clock: Callable[[], float] = time.time,
        actor: str = "console",
        refresh_interval: float = 0.1,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.actor = actor
        self.board = CallBoard()
        self.startup_steps: dict[str, str] = {}
        self.started = False
        self._clock = clock
        self.bridge = EventBridge(self.board, self.post_message, refresh_interval)
        self.dashboard = DashboardScreen(self.board, clock, self.startup_steps)
        self._stopping: asyncio.Task[None] | None = None  # the one runtime shutdown, once begun

    # -- lifecycle ------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
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
            self.notify(f"Start-up failed: {error}", severity="error", timeout=30)
            return
        self.started = True
        self.dashboard.show_startup(finished_ok=True)
        self.call_after_refresh(self._tick)  # the dashboard may still be mounting

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
        try:
            await self.backend.stop()
        except Exception:
            log.exception("runtime shutdown failed")

    # -- board and status -----------------------------------------------------------------------

    def on_board_changed(self, message: BoardChanged) -> None:
        self._refresh_screens(message.call_sids)
        self.screen.refresh_bindings()  # take over/hand back and mute/unmute follow the call

    def on_emergency_raised(self, message: EmergencyRaised) -> None:
        self.bell()
        if not any(isinstance(screen, AlertScreen) for screen in self.screen_stack):
            self.push_screen(AlertScreen(self.board), self._after_alert)
        self._refresh_screens(frozenset({message.call_sid}))

    def _after_alert(self, _: None) -> None:
        self._refresh_screens(frozenset())

    def on_call_chosen(self, message: CallChosen) -> None:
        self.push_screen(CallViewScreen(message.call_sid, self.board, self._clock))
        self.call_after_refresh(self._tick)

    def _tick(self) -> None:
        gone = self.board.prune(self._clock(), KEEP_ENDED_FOR)
        try:
            status = self.backend.status()
        except Exception:  # a status glitch must not stop the calls from being watched
            log.exception("runtime status failed")
            status = {}
        for screen in self._views():
            screen.refresh_status(status)
        self._refresh_screens(frozenset(gone))

    def _refresh_screens(self, changed: frozenset[str]) -> None:
        for screen in self._views():
            screen.refresh_board(changed)

    def _views(self) -> list[BoardView]:
        return [s for s in self.screen_stack if isinstance(s, BoardView) and s.is_mounted]

    # -- operator actions -----------------------------------------------------------------------

    def selected_call(self, screen: Screen | None = None) -> CallState | None:
        screen = screen or self.screen
        sid = screen.selected_call() if isinstance(screen, BoardView) else None
        return self.board.get(sid) if sid else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in CALL_ACTIONS:
            return True
        return _allowed(action, parameters, self.selected_call())

    def action_take_over(self) -> None:
        self._act("take over", self.backend.control.take_over, mark=("taken_over", True))

    def action_hand_back(self) -> None:
        self._act("hand back", self.backend.control.hand_back, mark=("taken_over", False))

    def action_mute(self, muted: bool) -> None:
        label = "mute agent" if muted else "unmute agent"
        self._act(label, self.backend.control.mute_agent, muted, mark=("agent_muted", muted))

    def action_say(self) -> None:
        self._ask("Say to {caller} (spoken with the agent's voice)", "say", "Sorry, one moment…")

    def action_whisper(self) -> None:
        self._ask("Whisper to the agent on {caller}'s call", "whisper", "Offer Tuesday at 3 pm")

    def action_transfer(self) -> None:
        # "default" names the profile's default transfer target (CallSession resolves it).
        # TODO(transfer target): let the operator pick among the profile's other targets.
        self._confirm("Transfer {caller} to the profile's default target?", "transfer", "default")

    def action_hang_up(self) -> None:
        self._confirm("Hang up on {caller}?", "hang_up")

    def action_listen_in(self) -> None:
        self.run_worker(self._listen_in(), name="listen-in probe", group="listen", exclusive=True)

    async def _listen_in(self) -> None:
        # Importing sounddevice initialises PortAudio: a thread, never the loop.
        reason = await asyncio.to_thread(why_listen_in_unavailable, self.backend.listen_in)
        if reason is not None:
            self.notify(f"Listen-in unavailable: {reason}", severity="warning", timeout=10)
            return
        # TODO(listen-in, later increment): open a sounddevice RawOutputStream at 8 kHz owned by
        # the app (not a screen), fed by backend.listen_in.tap(sid, sink), closed on hand-off.
        self.notify("Listen-in arrives in a later increment")

    # TODO(history, later increment): a `history` key pushing a HistoryScreen that reads
    # backend.history.list_calls()/get_call() in thread workers (run_worker(..., thread=True)).

    def _ask(self, title: str, method: str, placeholder: str) -> None:
        call = self.selected_call()
        if call is None:
            return
        send = getattr(self.backend.control, method)

        def answered(text: str | None) -> None:
            if text:
                self._act(method, send, text, sid=call.call_sid)

        self.push_screen(PromptScreen(title.format(caller=call.caller), placeholder), answered)

    def _confirm(self, question: str, method: str, *args: object) -> None:
        call = self.selected_call()
        if call is None:
            return
        act = getattr(self.backend.control, method)

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(method.replace("_", " "), act, *args, sid=call.call_sid)

        self.push_screen(ConfirmScreen(question.format(caller=call.caller)), answered)

    def _act(
        self,
        label: str,
        method: Callable[..., Awaitable[None]],
        *args: object,
        sid: str | None = None,
        mark: tuple[str, bool] | None = None,
    ) -> None:
        call = self.board.get(sid) if sid else self.selected_call()
        if call is None:
            self.notify("Select a live call first", severity="warning")
            return
        name = f"control {label} {call.call_sid}"
        work = self._control(label, call, partial(method, call.call_sid, *args, self.actor), mark)
        self.run_worker(work, name=name, group="control")

    async def _control(
        self,
        label: str,
        call: CallState,
        request: Callable[[], Awaitable[None]],
        mark: tuple[str, bool] | None,
    ) -> None:
        try:
            await request()
        except Exception as error:  # an ended call or a REST failure must not end the console
            log.warning("%s on %s failed: %s", label, call.call_sid, error)
            self.notify(f"{label} failed: {error}", severity="error", timeout=10)
            return
        if mark is not None:
            setattr(call, *mark)  # until the call's own events say otherwise
            self._refresh_screens(frozenset({call.call_sid}))
            self.screen.refresh_bindings()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        call = self.selected_call(screen)
        if call is None:
            return
        for action, (title, help_text) in CALL_ACTIONS.items():
            if action == "mute":
                yield SystemCommand(
                    title, help_text, partial(self.action_mute, not call.agent_muted)
                )
            elif _allowed(action, (), call):
                yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))


def _allowed(action: str, parameters: tuple[object, ...], call: CallState | None) -> bool | None:
    """Footer and palette state of an operator action: True usable, None greyed, False hidden."""
    if call is None:
        return None  # shown, greyed out: there is no call to act on
    if action in ("take_over", "hand_back"):
        return call.taken_over == (action == "hand_back")
    if action == "mute":
        return parameters[0] != call.agent_muted
    return True
