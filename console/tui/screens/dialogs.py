"""Small modal questions: a line of text for say/whisper, and yes/no before irreversible acts."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from console.safe_text import printable
from console.tui.widgets.printable_input import PrintableInput


class PromptScreen(ModalScreen[str | None]):
    """Dismisses with the typed text, or None on escape or an empty line."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__()
        self._title = title
        self._placeholder = placeholder
        self._value = value  # to edit (a gated reply), rather than type from nothing

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # Text, not markup: a title names the caller, whose number is whatever they sent.
            yield Label(Text(printable(self._title)), classes="dialog-title")
            yield PrintableInput(self._value, placeholder=self._placeholder, id="prompt-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(printable(self._question)), classes="dialog-title")
            yield Label("y = yes    n / escape = no", classes="dialog-hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
