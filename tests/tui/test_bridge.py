"""The bus subscriber: board updates at once, the app hears about them coalesced."""

import asyncio

from textual.message import Message

from console.events import CallerTranscribed, EmergencyDetected, EventBus
from console.tui.board import CallBoard
from console.tui.bridge import BoardChanged, EmergencyRaised, EventBridge


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = asyncio.Event()

    def post(self, message: Message) -> None:
        self.messages.append(message)
        self.arrived.set()


async def test_a_burst_of_interim_transcripts_becomes_one_board_change_per_interval() -> None:
    bus, board, inbox = EventBus(), CallBoard(), Inbox()
    EventBridge(board, inbox.post, interval=0.05).attach(bus)
    for words in ["I", "I'd", "I'd like", "I'd like to"]:
        bus.publish(CallerTranscribed("CA1", text=words, final=False))
        bus.publish(CallerTranscribed("CA2", text=words, final=False))
    assert board.get("CA1").interim == "I'd like to"  # the board is current at once
    assert inbox.messages == []  # ... the screens repaint on the next tick
    await asyncio.wait_for(inbox.arrived.wait(), 1)
    [message] = inbox.messages
    assert isinstance(message, BoardChanged) and message.call_sids == {"CA1", "CA2"}


async def test_an_emergency_is_announced_immediately_after_the_pending_changes() -> None:
    bus, board, inbox = EventBus(), CallBoard(), Inbox()
    EventBridge(board, inbox.post, interval=10).attach(bus)
    bus.publish(CallerTranscribed("CA1", text="my chest", final=False))
    bus.publish(EmergencyDetected("CA1", source="caller", phrase="chest pain", text="chest pain"))
    changed, raised = inbox.messages
    assert isinstance(changed, BoardChanged) and changed.call_sids == {"CA1"}
    assert isinstance(raised, EmergencyRaised) and raised.phrase == "chest pain"


async def test_a_detached_bridge_no_longer_hears_the_bus() -> None:
    bus, board, inbox = EventBus(), CallBoard(), Inbox()
    bridge = EventBridge(board, inbox.post, interval=10)
    bridge.attach(bus)
    bus.publish(CallerTranscribed("CA1", text="hello", final=False))
    bridge.detach()
    bus.publish(CallerTranscribed("CA2", text="hello", final=False))
    assert board.get("CA2") is None
    bridge.flush()
    assert [m.call_sids for m in inbox.messages] == [frozenset({"CA1"})]
