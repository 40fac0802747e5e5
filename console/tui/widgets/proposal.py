"""The gated reply in the call view: what the agent proposes to say, as it streams, which part of
it is approved (the caller hears it) and which waits, and the keys that decide it. Hidden when no
reply waits."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.tui.call_state import CallState, PendingReply

KEYS = "enter approve · e edit · r reject (you take the call)"
# While the reply is still being written: enter approves its complete pieces, heard at once.
PIECE_KEYS = "enter approve what is complete · e edit the rest · r reject (you take the call)"


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
    text.append_text(_status(pending, now))
    text.append("\n")
    if pending.approved:
        text.append("✓ approved, heard: ", style="green")
        text.append(pending.approved, style="green")
        text.append("\n")
    text.append(pending.rest or "…", style="bold")
    text.append("\n")
    text.append(_keys(pending), style="dim")
    return text


def _status(pending: PendingReply, now: float) -> Text:
    if pending.complete:
        return Text(f"caller holding {pending.waiting_s(now):.0f} s", style="bold yellow")
    if pending.pieces_wait:
        return Text("being written… complete pieces wait for approval", style="italic yellow")
    return Text("being written…", style="italic")


def _keys(pending: PendingReply) -> str:
    if pending.complete:
        return KEYS
    return PIECE_KEYS if pending.pieces_wait else "e edit · r reject"
