"""What a stored call came to: disposition, summary, action items and extracted fields.

Rendered from the call record (console.storage.records.CallRecord) alone, as printable Text: a
summary quotes a caller, and a model's answer may hold anything.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.safe_text import printable
from console.storage.records import CallRecord

_SOURCE = {"llm": "written by the model", "rules": "from the profile's rules"}


def render_call_summary(call: CallRecord) -> Text:
    disposition = call.disposition
    if not disposition:
        return Text("no summary yet (written when the call ends)", style="dim")
    text = Text()
    text.append(f" {printable(disposition)} ", style="bold reverse")
    source = call.summary_source or ""
    text.append(f"  {_SOURCE.get(source, printable(source))}", style="dim")
    text.append("   e edits", style="dim italic")
    text.append("\n")
    text.append(printable(call.summary or ""))
    for item in call.action_items:
        text.append("\n☐ ", style="bold")
        text.append(printable(item))
    fields = call.fields
    if fields:
        text.append("\n")
        text.append("   ".join(f"{printable(k).replace('_', ' ')}: {printable(v)}"
                               for k, v in fields.items()), style="cyan")
    return text


class CallSummaryPanel(Static):
    """The summary box of the call record screen."""

    DEFAULT_CSS = """
    CallSummaryPanel {
        height: auto;
        max-height: 10;
        border: round $secondary;
        padding: 0 1;
    }
    """

    def show(self, call: CallRecord) -> None:
        self.update(render_call_summary(call))
