"""The gated reply in the call view: what the agent proposes to say, as it streams, and the keys
that decide it. Hidden when no reply waits."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.tui.call_state import CallState, PendingReply

KEYS = "enter approve · e edit · r reject (you take the call)"


class ProposalPanel(Static):
    def show(self, call: CallState, now: float) -> None:
        pending = call.proposal
        self.display = pending is not None
        if pending is not None:
            self.update(render_proposal(pending, now))


def render_proposal(pending: PendingReply, now: float) -> Text:
    """Text, never markup: the words are the LLM's, and it may have been steered by the caller."""
    text = Text()
    text.append("GATED REPLY", style="bold reverse")
    text.append(f"  {pending.reason}  ·  ", style="dim")
    if pending.complete:
        text.append(f"caller holding {pending.waiting_s(now):.0f} s", style="bold yellow")
    else:
        text.append("being written…", style="italic")
    text.append("\n")
    text.append(pending.text or "…", style="bold")
    text.append("\n")
    text.append(KEYS if pending.complete else "e edit · r reject", style="dim")
    return text
