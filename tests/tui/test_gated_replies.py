"""Gated replies in the console (issue 15: approve-before-speak): the proposal as it streams in
the call view, and the keys that decide it (g gates the call, enter approves, e edits, r
rejects), each through CallControl. Over the real server: tests/integration/test_gated_replies.py.
"""

from __future__ import annotations

from textual.pilot import Pilot

from console.events import CallEvent, GatedReplyDecided, ReplyProposed
from console.tui.app import VoiceConsoleApp
from console.tui.board import CallBoard
from console.tui.screens.call_view import CallViewScreen
from console.tui.screens.dialogs import PromptScreen
from console.tui.widgets.calls_table import CallsTable
from console.tui.widgets.printable_input import PrintableInput
from console.tui.widgets.proposal import ProposalPanel

from .conftest import frozen_clock, wait_until
from .fakes import T0, FakeBackend, call_script

ANSWER = "Two tablets every six hours. Never more than eight a day."
EDIT = "A nurse will call you back about the dose."
REASON = "topic: dosage"


def streamed(sid: str, text: str, at: float) -> list[CallEvent]:
    """A proposal as the gate publishes it: the text so far at each token, then complete."""
    words = text.split(" ")
    partial = [ReplyProposed(sid, text=" ".join(words[: n + 1]), complete=False, reason=REASON,
                             at=at + n * 0.01) for n in range(len(words))]
    return [*partial, ReplyProposed(sid, text=text, complete=True, reason=REASON, at=at + 0.2)]


def decided(sid: str, decision: str, spoken: str, at: float) -> GatedReplyDecided:
    return GatedReplyDecided(sid, proposed=ANSWER, decision=decision, spoken=spoken, actor="ana",
                             decide_ms=2100.0, reason=REASON, at=at)


def test_the_board_holds_the_proposal_as_it_streams_and_drops_it_once_decided():
    board = CallBoard()
    for event in call_script("CA1"):
        board.apply(event)
    events = streamed("CA1", ANSWER, T0 + 20)
    board.apply(events[1])
    call = board.get("CA1")
    assert call.proposal.text == "Two tablets" and not call.proposal.complete
    assert call.proposal.waiting_s(T0 + 30) == 0.0  # still being written: nobody waits on it
    for event in events[2:]:
        board.apply(event)
    assert call.proposal.text == ANSWER and call.proposal.waiting_s(T0 + 23.2) == 3.0
    board.apply(decided("CA1", "edited", EDIT, T0 + 22.3))
    assert call.proposal is None
    assert call.timeline[-1].summary == f"ana edited the gated reply after 2.1 s: “{EDIT}”"


async def open_call(pilot: Pilot, backend: FakeBackend) -> ProposalPanel:
    app = pilot.app
    await wait_until(pilot, lambda: app.started)
    backend.play(call_script("CA1"))
    await wait_until(pilot, lambda: app.dashboard.query_one(CallsTable).row_count == 1)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, CallViewScreen))
    return app.screen.query_one(ProposalPanel)


def decisions(backend: FakeBackend) -> list[tuple]:
    return [c[2:4] for c in backend.control.calls if c[0] == "decide_reply"]


async def test_console_keys_gate_the_call_then_approve_edit_and_reject_its_waiting_replies(
    backend: FakeBackend,
) -> None:
    app = VoiceConsoleApp(backend, clock=frozen_clock(T0 + 95), refresh_interval=0.02)
    async with app.run_test(size=(120, 34)) as pilot:
        panel = await open_call(pilot, backend)
        await pilot.press("g")
        await wait_until(pilot, lambda: ("gate_replies", "CA1", True, "console")
                         in backend.control.calls)
        assert not panel.display
        await pilot.press("enter", "r")  # nothing waits: neither key acts
        backend.play(streamed("CA1", ANSWER, T0 + 80)[:3])
        await wait_until(pilot, lambda: panel.display and "being written" in str(panel.content))
        await pilot.press("enter")  # not complete yet: approving is not offered
        backend.play(streamed("CA1", ANSWER, T0 + 80)[3:])
        await wait_until(pilot, lambda: "caller holding 15 s" in str(panel.content))
        assert ANSWER in str(panel.content)
        await pilot.press("enter")
        await wait_until(pilot, lambda: decisions(backend) == [("approve", "")])

        backend.play([decided("CA1", "approved", ANSWER, T0 + 90), *streamed("CA1", ANSWER, T0)])
        await wait_until(pilot, lambda: panel.display)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
        box = app.screen.query_one(PrintableInput)
        assert box.value == ANSWER  # the operator edits the proposal, not a blank line
        box.value = EDIT
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(decisions(backend)) == 2)
        assert decisions(backend)[1] == ("edit", EDIT)

        backend.play([decided("CA1", "edited", EDIT, T0 + 90), *streamed("CA1", ANSWER, T0)])
        await wait_until(pilot, lambda: panel.display)
        await pilot.press("r")
        await wait_until(pilot, lambda: len(decisions(backend)) == 3)
        assert decisions(backend)[2] == ("reject", "")
        assert pilot.app.board.get("CA1").taken_over


async def test_an_operator_on_the_dashboard_is_told_once_that_a_reply_waits(backend) -> None:
    app = VoiceConsoleApp(backend, clock=frozen_clock(T0 + 95), refresh_interval=0.02)
    told: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (told.append(message), notify(message, **kw))
    async with app.run_test(size=(120, 34)) as pilot:
        await wait_until(pilot, lambda: app.started)
        backend.play([*call_script("CA1"), *streamed("CA1", ANSWER, T0 + 80)])
        await wait_until(pilot, lambda: any("waits for approval" in t for t in told))
        assert "topic: dosage" in told[-1] and "+15551230001" in told[-1]
        backend.play(streamed("CA1", ANSWER, T0 + 80)[-1:])  # the same reply, again
        await pilot.pause(0.1)
        assert sum("waits for approval" in t for t in told) == 1


async def test_enter_approves_the_complete_pieces_of_a_reply_still_being_written(backend) -> None:
    first, rest = "Two tablets every six hours.", "Never more"

    def shown(text: str, at: float, **approval) -> ReplyProposed:
        return ReplyProposed("CA1", text=text, complete=False, reason=REASON, at=at, **approval)

    app = VoiceConsoleApp(backend, clock=frozen_clock(T0 + 95), refresh_interval=0.02)
    async with app.run_test(size=(120, 34)) as pilot:
        panel = await open_call(pilot, backend)
        backend.play([shown("Two tablets", T0 + 80)])
        await wait_until(pilot, lambda: panel.display)
        await pilot.press("enter")  # no piece is complete yet: approving is not offered
        backend.play([shown(first, T0 + 80.5, approvable=True)])
        await wait_until(pilot, lambda: "complete pieces wait" in str(panel.content))
        await pilot.press("enter")
        await wait_until(pilot, lambda: decisions(backend) == [("approve", "")])

        backend.play([shown(f"{first} {rest}", T0 + 81, approved=first)])
        await wait_until(pilot, lambda: f"approved, heard: {first}\n{rest}\n" in str(panel.content))
        await pilot.press("enter")  # the rest is still being written: nothing to approve
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
        box = app.screen.query_one(PrintableInput)
        assert box.value == rest  # only the unapproved rest is the operator's to edit
        box.value = EDIT
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(decisions(backend)) == 2)
        assert decisions(backend) == [("approve", ""), ("edit", EDIT)]
