"""The call view's keys for gated replies (issue 15: approve-before-speak), mixed into it.

g gates every reply of the call (again: ungates); when a reply waits, enter approves what of it is
complete (while it is still being written, its complete pieces shown so far), e opens the part
not yet approved for editing (the edit is spoken instead) and r rejects it (nothing more is said,
the operator takes the call). Each goes through CallControl like every operator action
(tui/operator.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from textual.binding import Binding

from console.tui.board import CallBoard
from console.tui.call_state import CallState
from console.tui.screens.dialogs import PromptScreen


class GateDesk(Protocol):
    """What the gate keys use of the console app (VoiceConsoleApp): its board, the two gate
    actions (tui/operator.py) and the few App calls that tell the operator. A Protocol, so this
    module does not import the app, which imports it."""

    board: CallBoard

    @property
    def screen(self) -> Any: ...
    def gate_call(self, call_sid: str, on: bool) -> None: ...
    def decide_reply(self, call_sid: str, decision: str, text: str = "") -> None: ...
    def push_screen(self, screen: Any, callback: Any = None, /) -> Any: ...
    def bell(self) -> None: ...
    def notify(self, message: str, *, severity: Any = ..., timeout: Any = ...,
               markup: bool = ...) -> None: ...


# Gate actions, and whether each needs a waiting reply with something to approve (True), or any.
_DECISIONS = {"approve_reply": True, "edit_reply": False, "reject_reply": False}


class GateKeys:
    """Mixed into CallViewScreen, which provides `call_sid`, `app`, `refresh_bindings`."""

    # Textual merges BINDINGS only from DOM classes: the screen lists these in its own.
    GATE_BINDINGS = [
        # Not in the footer until used (it is full at 120 columns): README, the header's
        # "replies gated", and Ungate once on.
        Binding("g", "gate(True)", "Gate replies", show=False),
        Binding("g", "gate(False)", "Ungate"),
        Binding("enter", "approve_reply", "Approve"),
        Binding("e", "edit_reply", "Edit reply"),
        Binding("r", "reject_reply", "Reject reply"),
    ]
    call_sid: str
    _gate_keys_shown: tuple[bool, bool, bool] | None = None
    if TYPE_CHECKING:
        app: GateDesk

        def refresh_bindings(self) -> None: ...

    def _gated_call(self) -> CallState | None:
        call = self.app.board.get(self.call_sid)
        return call if call is not None and call.live else None

    def gate_action_state(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Footer state of a gate key: True usable, False hidden; None: not a gate key."""
        call = self._gated_call()
        if action == "gate":
            return call is not None and parameters[0] != call.gated
        if action not in _DECISIONS:
            return None
        pending = call.proposal if call is not None else None
        return pending is not None and (pending.approvable or not _DECISIONS[action])

    def sync_gate_keys(self, call: CallState) -> None:
        """Re-draw the footer when the gate or the waiting reply changed (not on every token)."""
        pending = call.proposal
        shown = (call.gated, pending is not None, pending is not None and pending.approvable)
        if shown != self._gate_keys_shown:
            self._gate_keys_shown = shown
            self.refresh_bindings()

    # -- the keys -------------------------------------------------------------------------------

    def action_gate(self, on: bool) -> None:
        self.app.gate_call(self.call_sid, on)

    def action_approve_reply(self) -> None:
        self.app.decide_reply(self.call_sid, "approve")

    def action_edit_reply(self) -> None:
        call = self._gated_call()
        if call is None or call.proposal is None:
            return
        app, sid = self.app, self.call_sid

        def edited(text: str | None) -> None:
            if text:
                app.decide_reply(sid, "edit", text)

        whose = "the rest of the reply" if call.proposal.approved else "the reply"
        title = f"Edit {whose} to {call.caller} (enter: speak this instead)"
        app.push_screen(PromptScreen(title, value=call.proposal.rest), edited)

    def action_reject_reply(self) -> None:
        self.app.decide_reply(self.call_sid, "reject")


class WaitingReplies:
    """Tells the operator, on whatever screen, that a reply waits for approval: once per reply,
    unless that call's view is already in front of them."""

    def __init__(self) -> None:
        self._told: dict[str, float] = {}  # call -> when the reply told of was first shown

    def check(self, app: GateDesk, changed: frozenset[str]) -> None:
        for sid in changed:
            call = app.board.get(sid)
            pending = call.proposal if call is not None else None
            if call is None or pending is None:
                self._told.pop(sid, None)
            elif pending.approvable and self._told.get(sid) != pending.shown_at:
                self._told[sid] = pending.shown_at
                self._tell(app, call)

    def _tell(self, app: GateDesk, call: CallState) -> None:
        screen = app.screen
        if isinstance(screen, GateKeys) and screen.call_sid == call.call_sid:
            return
        app.bell()
        reason = call.proposal.reason if call.proposal else ""
        app.notify(f"A reply on {call.caller}'s call waits for approval ({reason}): open the "
                   "call, then enter approves, e edits, r rejects", severity="warning",
                   timeout=10, markup=False)
