"""The operator's correction of what a call came to: a small dialog over the call record.

The disposition is chosen from the call's profile's list; the summary and each of the profile's
fields are typed (PrintableInput). Saving hands every value to the history's `edit_call`, which
stores only what changed, each change with an audit row (who, when, old, new).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, Select

from console.safe_text import printable
from console.storage.records import CallRecord
from console.tui.backend import HistoryEdits
from console.tui.operator import OperatorActions
from console.tui.widgets.printable_input import PrintableInput


@dataclass(frozen=True)
class EditChoices:
    """What the dialog offers: the profile's dispositions and its fields (name, label)."""

    dispositions: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]


def edit_choices(call: CallRecord) -> EditChoices:
    """From the call's profile (a file read: call it in a thread worker). A profile that is gone
    offers the call's own disposition and fields, so they can still be corrected."""
    from console.profiles import ProfileError, load_profile

    try:
        rules = load_profile(call.profile or "").summary
        dispositions, fields = rules.dispositions, tuple((f.name, f.label) for f in rules.fields)
    except ProfileError:
        dispositions, fields = (), ()
    current = call.disposition
    if current and current not in dispositions:
        dispositions = (*dispositions, current)
    known = {name for name, _ in fields}
    extra = tuple((n, n.replace("_", " ")) for n in call.fields if n not in known)
    return EditChoices(dispositions, fields + extra)


class SummaryEditScreen(ModalScreen[dict[str, str] | None]):
    """Dismisses with {"disposition": ..., "summary": ..., "fields.NAME": ...}, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, call: CallRecord, choices: EditChoices) -> None:
        super().__init__()
        self._call = call
        self._choices = choices

    def compose(self) -> ComposeResult:
        values = self._call.fields
        with Vertical(classes="dialog", id="summary-edit"):
            yield Label("Correct what this call came to", classes="dialog-title")
            options = [(Text(printable(d)), d) for d in self._choices.dispositions]
            yield Select(options, value=self._call.disposition or Select.NULL,
                         id="edit-disposition", prompt="disposition")
            yield PrintableInput(self._call.summary or "", placeholder="summary",
                                 id="edit-summary")
            for name, label in self._choices.fields:
                yield Label(Text(printable(label)))
                yield PrintableInput(str(values.get(name, "")), placeholder=printable(label),
                                     id=f"edit-field-{name}", name=name)
            yield Label("enter or ctrl+s saves · escape cancels", classes="dialog-hint")

    def values(self) -> dict[str, str]:
        changes = {"summary": self.query_one("#edit-summary", Input).value}
        disposition = self.query_one("#edit-disposition", Select).value
        if isinstance(disposition, str):
            changes["disposition"] = disposition
        for name, _ in self._choices.fields:
            changes[f"fields.{name}"] = self.query_one(f"#edit-field-{name}", Input).value
        return changes

    def on_input_submitted(self, _: Input.Submitted) -> None:
        self.action_save()

    def action_save(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)


# --- the flow, for the call record screen: choices (a file read), dialog, save (a database write)


def start_summary_edit(screen: Screen[Any], history: object, record: CallRecord | None,
                       reread: Callable[[], object]) -> None:
    if record is None or not isinstance(history, HistoryEdits):
        screen.notify("This call's summary cannot be edited here", severity="warning")
        return
    flow = _EditFlow(screen, history, record, reread)
    screen.run_worker(flow.offer, thread=True, name="summary edit choices", group="summary-edit")


@dataclass
class _EditFlow:
    screen: Screen[Any]
    history: HistoryEdits
    record: CallRecord
    reread: Callable[[], object]

    def offer(self) -> None:
        """Thread worker: read the profile's choices, then open the dialog on the loop."""
        dialog = SummaryEditScreen(self.record, edit_choices(self.record))
        self.screen.app.call_from_thread(self.screen.app.push_screen, dialog, self.save)

    def save(self, changes: dict[str, str] | None) -> None:
        if changes:
            self.screen.run_worker(partial(self.store, changes), thread=True,
                                   name="summary edit", group="summary-edit")

    def store(self, changes: dict[str, str]) -> None:
        """Thread worker: the edit is stored and audited, then the record is read again."""
        app = self.screen.app
        assert isinstance(app, OperatorActions)  # the console's app: it knows the operator
        severity: SeverityLevel
        try:
            edits = self.history.edit_call(self.record.call_sid, changes, app.actor)
            message = f"Saved {len(edits)} change(s) as {app.actor}" if edits else "No change"
            severity = "information"
        except Exception as error:  # a refused edit, a locked database: say so, keep the screen
            message, severity = f"Edit not saved: {error}", "error"
        app.call_from_thread(partial(self.screen.notify, message, severity=severity,
                                     markup=False))
        app.call_from_thread(self.reread)
