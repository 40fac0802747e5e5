"""What the operator does to a call from the console, mixed into the app.

Every action goes through `CallControl` (DESIGN.md: the TUI acts only through it) on the call the
current screen has selected, runs in an app worker (so the console keeps painting), and reports
failure in words instead of ending the console.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.screen import Screen

from console.tui.audio_desk import AudioDesk, Notice
from console.tui.backend import ConsoleBackend
from console.tui.board import CallBoard
from console.tui.call_state import CallState
from console.tui.screens.base import BoardView
from console.tui.screens.dialogs import ConfirmScreen, PromptScreen
from console.tui.screens.transfer import TransferScreen, transfer_targets

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[None]
else:
    _Base = object

log = logging.getLogger(__name__)

# Operator actions that need a live call selected: (action, palette title, palette help).
CALL_ACTIONS = {
    "take_over": ("Take over", "Silence the agent; you talk to the caller"),
    "hand_back": ("Hand back", "Give the call back to the agent"),
    "mute": ("Mute/unmute agent", "The agent keeps listening but does not speak"),
    "say": ("Say…", "Speak a line to the caller with the agent's voice"),
    "whisper": ("Whisper…", "Guide the agent's next reply; the caller never hears it"),
    "transfer": ("Transfer…", "Transfer the call to one of the profile's targets"),
    "warm_transfer": ("Warm transfer…", "Hold the caller, brief the target, then join them"),
    "hang_up": ("Hang up", "End the call once queued audio has played"),
    "listen_in": ("Listen in", "Hear the call on this machine's speakers"),
    # issue 15
    "catch_up": ("Catch up", "Hear the last 15 s at 1.5×, then the call live"),
    "mute_caller": ("Mute/unmute caller",
                    "The agent stops listening to the caller: no barge-in, no answers"),
}


class OperatorActions(_Base):
    """Mixed into VoiceConsoleApp, which provides these attributes."""

    backend: ConsoleBackend
    board: CallBoard
    actor: str
    audio_desk: AudioDesk
    _bindings_shown: tuple[object, ...] | None = None  # what the footer last showed
    if TYPE_CHECKING:

        def _refresh_screens(self, changed: frozenset[str]) -> None: ...

    def selected_call(self, screen: Screen[Any] | None = None) -> CallState | None:
        screen = screen or self.screen
        sid = screen.selected_call() if isinstance(screen, BoardView) else None
        return self.board.get(sid) if sid else None

    def refresh_call_bindings(self) -> None:
        """Re-draw the footer only when what it shows for the selected call changed: a footer
        refresh re-mounts every key (measured ~10 ms), too dear for every board change (10 Hz)."""
        call = self.selected_call()
        shown = (call.call_sid, call.live, call.taken_over, call.agent_muted,
                 call.caller_muted) if call is not None else None
        if shown != self._bindings_shown:
            self._bindings_shown = shown
            self.screen.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in CALL_ACTIONS:
            return True
        if not isinstance(self.screen, BoardView):
            return False  # e.g. past calls: there is no live call to act on there
        return _allowed(action, parameters, self.selected_call())

    # -- the keys -------------------------------------------------------------------------------

    def action_take_over(self) -> None:
        self._act(
            "take over",
            self.backend.control.take_over,
            mark=("taken_over", True),
            then=self._open_mic,
        )

    def action_hand_back(self) -> None:
        self._act(
            "hand back",
            self.backend.control.hand_back,
            mark=("taken_over", False),
            then=partial(self.audio_desk.release, mic_only=True),
        )

    def action_mute(self, muted: bool) -> None:
        label = "mute agent" if muted else "unmute agent"
        self._act(label, self.backend.control.mute_agent, muted, mark=("agent_muted", muted))

    def action_say(self) -> None:
        self._ask("Say to {caller} (spoken with the agent's voice)", "say", "Sorry, one moment…")

    def action_whisper(self) -> None:
        self._ask("Whisper to the agent on {caller}'s call", "whisper", "Offer Tuesday at 3 pm")

    def action_transfer(self) -> None:
        call = self.selected_call()
        if call is not None:
            self.run_worker(self._pick_transfer(call), name="transfer targets", group="ask")

    def action_warm_transfer(self) -> None:
        """Issue 15: like transfer (x), but the caller holds and the target is briefed first."""
        call = self.selected_call()
        if call is not None:
            work = self._pick_transfer(call, warm=True)
            self.run_worker(work, name="warm transfer targets", group="ask")

    def action_hang_up(self) -> None:
        self._confirm("Hang up on {caller}?", "hang_up")

    def action_listen_in(self) -> None:
        call = self.selected_call()
        if call is not None:
            work = self._tell(self.audio_desk.toggle_listen(call.call_sid))
            self.run_worker(work, name=f"listen-in {call.call_sid}", group="audio")

    # -- issue 15: gated replies (the call view's keys, console/tui/gate_keys.py) ---------------

    def gate_call(self, call_sid: str, on: bool) -> None:
        label = "gate replies" if on else "ungate replies"
        self._act(label, self.backend.control.gate_replies, on, sid=call_sid, mark=("gated", on))

    def decide_reply(self, call_sid: str, decision: str, text: str = "") -> None:
        """Approve, edit (`text` is spoken instead) or reject the call's waiting reply. A
        rejection hands the call to the operator, microphone open, as a take-over does."""
        if decision == "reject":
            self._act("reject reply", self.backend.control.decide_reply, "reject", "",
                      sid=call_sid, mark=("taken_over", True), then=self._open_mic)
            return
        self._act(f"{decision} reply", self.backend.control.decide_reply, decision, text,
                  sid=call_sid)

    # -- issue 15: catch-up on join, mute caller ------------------------------------------------

    def action_catch_up(self) -> None:
        call = self.selected_call()
        if call is not None:
            work = self._tell(self.audio_desk.catch_up(call.call_sid))
            self.run_worker(work, name=f"catch-up {call.call_sid}", group="audio")

    def action_mute_caller(self, muted: bool) -> None:
        label = "mute caller" if muted else "unmute caller"
        self._act(label, self.backend.control.pause_listening, muted,
                  mark=("caller_muted", muted))

    def record_acknowledged(self, call_sid: str, how: str) -> None:
        """Issue 15 (drills): the operator saw a call's alert ("alert") or opened it ("opened"):
        recorded through the control, which is what a drill's time-to-acknowledge reads."""
        acknowledge = getattr(self.backend.control, "acknowledge", None)
        call = self.board.get(call_sid)
        if acknowledge is None or call is None or not call.live:
            return
        work = self._quietly(acknowledge(call_sid, self.actor, how))
        self.run_worker(work, name=f"acknowledge {call_sid}", group="control")

    async def _quietly(self, recording: Awaitable[None]) -> None:
        try:
            await recording
        except LookupError:  # the call ended meanwhile: nothing to record
            pass

    # -- asking first ---------------------------------------------------------------------------

    async def _pick_transfer(self, call: CallState, *, warm: bool = False) -> None:
        # The profile is a small file, read off the loop (it may have been edited since).
        targets, problem = await asyncio.to_thread(transfer_targets, call.profile)
        control = self.backend.control
        label, act = ("warm transfer", control.warm_transfer) if warm else \
            ("transfer", control.transfer)

        def chosen(target: str | None) -> None:
            if target:
                self._act(label, act, target, sid=call.call_sid)

        self.push_screen(TransferScreen(call.caller, targets, problem, warm=warm), chosen)

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

    # -- acting ---------------------------------------------------------------------------------

    def _act(
        self,
        label: str,
        method: Callable[..., Awaitable[None]],
        *args: object,
        sid: str | None = None,
        mark: tuple[str, bool] | None = None,
        then: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        call = self.board.get(sid) if sid else self.selected_call()
        if call is None:
            self.notify("Select a live call first", severity="warning")
            return
        request = partial(method, call.call_sid, *args, self.actor)
        work = self._control(label, call, request, mark, then)
        self.run_worker(work, name=f"control {label} {call.call_sid}", group="control")

    async def _control(
        self,
        label: str,
        call: CallState,
        request: Callable[[], Awaitable[None]],
        mark: tuple[str, bool] | None,
        then: Callable[[str], Awaitable[object]] | None,
    ) -> None:
        try:
            await request()
        except Exception as error:  # an ended call or a REST failure must not end the console
            # %r: the log is read in a terminal too, and the error may quote what a caller sent
            log.warning("%s on %r failed: %r", label, call.call_sid, str(error))
            self.notify(f"{label} failed: {error}", severity="error", timeout=10, markup=False)
            return
        if mark is not None:
            setattr(call, *mark)  # until the call's own events say otherwise
            self._refresh_screens(frozenset({call.call_sid}))
            self.refresh_call_bindings()
        if then is not None:
            await then(call.call_sid)

    async def _open_mic(self, call_sid: str) -> None:
        await self._tell(self.audio_desk.start_mic(call_sid))

    async def _tell(self, notice: Awaitable[Notice]) -> None:
        message, severity = await notice
        # markup=False: the words may quote a device's or a call's error.
        self.notify(message, severity=severity, timeout=8, markup=False)

    def sync_audio(self, changed: frozenset[str]) -> None:
        """Calls that ended stop being heard; a call handed back stops hearing the mic."""
        desk = self.audio_desk
        for sid in changed & {desk.listening, desk.speaking}:
            call = self.board.get(sid)
            if call is None or not call.live:
                release = desk.release(sid)
            elif sid == desk.speaking and not call.taken_over:
                release = desk.release(sid, mic_only=True)
            else:
                continue
            self.run_worker(release, name=f"audio release {sid}", group="audio")

    # -- the command palette --------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        call = self.selected_call(screen)
        if call is None:
            return
        for action, (title, help_text) in CALL_ACTIONS.items():
            if action == "mute":
                yield SystemCommand(
                    title, help_text, partial(self.action_mute, not call.agent_muted)
                )
            elif action == "mute_caller":
                yield SystemCommand(
                    title, help_text, partial(self.action_mute_caller, not call.caller_muted)
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
    if action == "mute_caller":
        return parameters[0] != call.caller_muted
    return True
