"""Where to transfer a call: the profile's targets, or a number typed by the operator.

Choosing is the confirmation (a transfer cannot be undone), so the picker names the caller and
every target's number; escape backs out without transferring.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from console import profiles
from console.safe_text import printable
from console.tui.widgets.printable_input import PrintableInput

# What Twilio dials: E.164, a plus and 8 to 15 digits (the profile loader checks the same).
_NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")


def transfer_targets(profile: str) -> tuple[dict[str, str], str | None]:
    """The profile's named targets (name -> number) and a problem to show, if any. Blocking: it
    reads the profile file, so call it from a thread."""
    if not profile:
        return {"default": ""}, "this call has no profile: its default target is used"
    try:
        targets = dict(profiles.load_profile(profile).transfer_targets)
    except profiles.ProfileError as error:
        return {"default": ""}, f"profile unreadable ({error.problem})"
    default = targets.pop("default", "")
    return {"default": default, **targets}, None


class TransferScreen(ModalScreen[str | None]):
    """Dismisses with a target name (CallControl resolves it) or a typed number, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, caller: str, targets: dict[str, str], problem: str | None = None,
                 *, warm: bool = False) -> None:
        super().__init__()
        self._warm = warm  # issue 15: the caller holds while the target is briefed
        self._caller = caller
        self._targets = targets
        self._problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # Text, not markup: the caller's number is whatever the caller sent.
            how = "Warm transfer (hold, brief, then join)" if self._warm else "Transfer"
            yield Label(Text(printable(f"{how} {self._caller} to…")), classes="dialog-title")
            if self._problem:
                yield Label(Text(printable(self._problem)), classes="dialog-hint")
            yield OptionList(*self._options(), id="transfer-targets")
            yield PrintableInput(
                placeholder="or type a number, e.g. +15551234567", id="transfer-number"
            )
            yield Label("enter = transfer    escape = cancel", classes="dialog-hint")

    def _options(self) -> list[Option]:
        width = max(len(name) for name in self._targets)
        return [
            Option(_target_line(name, number, width), id=name)
            for name, number in self._targets.items()
        ]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        number = event.value.replace(" ", "").replace("-", "")
        if _NUMBER.match(number):
            self.dismiss(number)
        else:
            self.notify(
                "A number starts with + and the country code, e.g. +15551234567", severity="warning"
            )

    def action_cancel(self) -> None:
        self.dismiss(None)


def _target_line(name: str, number: str, width: int) -> Text:
    return Text(printable(f"{name.replace('_', ' '):<{width}}  {number or '(profile default)'}"))
