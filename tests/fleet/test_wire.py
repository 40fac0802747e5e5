"""The fleet's stream entries carry every call event whole: what a console or the recorder
reads back is the event the worker published."""

from __future__ import annotations

from console import events as ev
from console.fleet import wire

SID = "CA" + "1" * 32


def test_an_event_comes_back_whole_with_its_id_and_worker() -> None:
    event = ev.TurnCompleted(SID, role="caller", text="My chest hurts, é ✓", started=1.5,
                             ended=2.25, at=1_700_000_000.125)
    fields = wire.encode(event, "worker-a", "e1")
    assert all(isinstance(value, str) for value in fields.values())
    back = wire.decode({key.encode(): value.encode() for key, value in fields.items()})
    assert back == wire.FleetEvent("e1", "worker-a", event)


def test_tuples_survive_the_json() -> None:
    event = ev.CallSummarized(SID, summary="s", disposition="resolved",
                              action_items=("call back",), fields=(("name", "Maria"),))
    back = wire.decode(wire.encode(event, "w"))
    assert back is not None and back.event == event


def test_each_published_event_gets_its_own_id() -> None:
    event = ev.CallEnded(SID, reason="hangup")
    assert wire.encode(event, "w")["id"] != wire.encode(event, "w")["id"]


def test_an_entry_it_cannot_read_is_none_not_an_error() -> None:
    good = wire.encode(ev.CallEnded(SID, reason="hangup"), "w")
    assert wire.decode({**good, "kind": "EventFromTheFuture"}) is None
    assert wire.decode({**good, "payload": "{not json"}) is None
    assert wire.decode({**good, "at": "soon"}) is None
    assert wire.decode({key: value for key, value in good.items() if key != "worker"}) is None
