"""One call event as an entry of the fleet's stream, and back.

An entry's fields are all strings (Redis stores bytes):
    id       the event's own id, unique in the fleet; the recorder stores each id once, so an
             entry delivered twice (a recorder that died before acknowledging) is not stored twice
    worker   the media worker whose call it is
    kind     the event's type in console.events ("CallStarted", "TurnCompleted", ...)
    call_sid the call
    at       the event's wall-clock time (time.time(), as every CallEvent carries)
    payload  the event's other fields as JSON (CallEvent.payload)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from console import events as ev
from console.storage.records import decode_event

FIELDS = ("id", "worker", "kind", "call_sid", "at", "payload")


@dataclass(frozen=True)
class FleetEvent:
    id: str
    worker: str
    event: ev.CallEvent


def new_id() -> str:
    return uuid.uuid4().hex


def encode(event: ev.CallEvent, worker: str, event_id: str | None = None) -> dict[str, str]:
    """The stream fields of `event`, published by `worker`."""
    return {
        "id": event_id or new_id(),
        "worker": worker,
        "kind": event.kind,
        "call_sid": event.call_sid,
        "at": repr(event.at),
        "payload": json.dumps(event.payload(), ensure_ascii=False, default=str),
    }


def decode(fields: Mapping[bytes | str, bytes | str]) -> FleetEvent | None:
    """The event an entry carries, or None when it is not one we can read (a newer worker's
    event kind, a damaged entry): a reader skips it rather than stop."""
    text = {_text(key): _text(value) for key, value in fields.items()}
    if any(name not in text for name in FIELDS):
        return None
    try:
        at = float(text["at"])
        payload = json.loads(text["payload"])
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    event = decode_event(text["call_sid"], text["kind"], at, payload)
    if event is None:
        return None
    return FleetEvent(text["id"], text["worker"], event)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
