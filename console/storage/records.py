"""What the call store hands to the rest of the console: frozen records, never rows.

Readers (repository.py, outbox.py, drills.py) build these from SQLite rows; nothing outside
storage reads a row by key. A stored event comes back decoded into its type from
console.events when its JSON still fits that type; a row written by another version (an unknown
kind, a field renamed) keeps its raw payload and `event=None`, so a history screen shows it
instead of failing. Exports and the webhook body turn records back into plain JSON with
`to_json()`, key for key what the rows held, so the files they write are unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from console import events as ev

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# A row as sqlite-utils yields it: column name -> SQLite value (str, int, float, None).
Row = Mapping[str, Any]


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


def _plain(value: object) -> object:
    """A record's value as the JSON the row held: tuples as lists, mappings as dicts."""
    if isinstance(value, TurnRecord | StoredEvent | TurnMetrics):
        return value.to_json()
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _to_json(record: DataclassInstance) -> dict[str, object]:
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


# -- calls ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    """One row of the calls table, as `CallRepository.list_calls` gives it: the columns in the
    table's order, then `turn_count` and `duration` (seconds; None while the call is live)."""

    call_sid: str
    stream_sid: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    profile: str | None = None
    started: float | None = None
    ended: float | None = None
    end_reason: str | None = None
    status: str = "live"
    emergency: bool = False
    recording_path: str | None = None
    recording_seconds: float | None = None
    summary: str | None = None
    disposition: str | None = None
    action_items: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=_empty)  # name -> value, as extracted
    summary_source: str | None = None
    drill: str | None = None  # the drill this call belonged to; None for a real call
    turn_count: int = 0
    duration: float | None = None

    @classmethod
    def from_row(cls, row: Row) -> typing.Self:
        return cls(**_call_columns(cls, row))

    def to_json(self) -> dict[str, object]:
        """The call as plain JSON, key for key the row it was read from."""
        return _to_json(self)


def _call_columns(cls: type[CallRecord], row: Row) -> dict[str, Any]:
    """The row's values for the record's fields, the JSON columns parsed."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {name: value for name, value in row.items() if name in names}
    values.update(emergency=bool(row["emergency"]),
                  action_items=tuple(json.loads(row.get("action_items") or "[]")),
                  fields=_frozen(json.loads(row.get("fields") or "{}")))
    return values


@dataclass(frozen=True)
class TurnRecord:
    """One turn of a stored call, in order (`idx` from 0)."""

    id: int
    call_sid: str
    idx: int
    role: str  # "caller" | "agent" | "operator"
    text: str
    started: float | None
    ended: float | None
    interrupted: bool = False

    @classmethod
    def from_row(cls, row: Row) -> TurnRecord:
        return cls(id=row["id"], call_sid=row["call_sid"], idx=row["idx"], role=row["role"],
                   text=row["text"], started=row["started"], ended=row["ended"],
                   interrupted=bool(row["interrupted"]))

    def to_json(self) -> dict[str, object]:
        return _to_json(self)


@dataclass(frozen=True)
class TurnMetrics:
    """One turn's latency stages in milliseconds (console.events.TurnMeasured)."""

    turn: int
    stages: Mapping[str, float]

    def to_json(self) -> dict[str, object]:
        return {"turn": self.turn, "stages": dict(self.stages)}


@dataclass(frozen=True)
class StoredEvent:
    """One row of a call's audit log. `payload` is the JSON as stored; `event` is the same
    decoded into its console.events type, or None when the row no longer fits one (a kind this
    version does not know, or fields renamed since it was written)."""

    id: int
    kind: str
    payload: Mapping[str, object]
    at: float
    event: ev.CallEvent | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, call_sid: str, row: Row) -> StoredEvent:
        payload = json.loads(row["payload"] or "{}")
        if not isinstance(payload, dict):  # stored by hand or by a bug: keep it, undecoded
            payload = {"value": payload}
        return cls(id=row["id"], kind=row["kind"], payload=_frozen(payload), at=row["at"],
                   event=decode_event(call_sid, row["kind"], row["at"], payload))

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "kind": self.kind, "payload": dict(self.payload), "at": self.at}


@dataclass(frozen=True)
class CallDetail(CallRecord):
    """One call in full (`CallRepository.get_call`): its row, turns, audit log and metrics."""

    turns: tuple[TurnRecord, ...] = ()
    events: tuple[StoredEvent, ...] = ()
    metrics: tuple[TurnMetrics, ...] = ()  # by turn


# -- decoding stored events -----------------------------------------------------------------------


def decode_event(call_sid: str, kind: str, at: float,
                 payload: Mapping[str, object]) -> ev.CallEvent | None:
    """The event a stored row records, or None when its kind or fields no longer fit a type in
    console.events (the JSON arrays come back as the tuples the event declares)."""
    event_type = _EVENT_TYPES.get(kind)
    if event_type is None:
        return None
    types = _field_types(event_type)
    # Typed per event class (checked by _fits below), so Any here, as in db._storable.
    values: dict[str, Any] = {name: _tuples(value) for name, value in payload.items()}
    if not all(name in types and _fits(value, types[name]) for name, value in values.items()):
        return None
    try:
        return event_type(call_sid, at=at, **values)
    except TypeError:  # a field the type needs is missing from the row
        return None


_EVENT_TYPES: dict[str, type[ev.CallEvent]] = {
    name: value for name, value in vars(ev).items()
    if isinstance(value, type) and issubclass(value, ev.CallEvent)
}


_FIELD_TYPES: dict[str, dict[str, object]] = {}  # kind -> its fields' declared types, on first use


def _field_types(event_type: type[ev.CallEvent]) -> dict[str, object]:
    known = _FIELD_TYPES.get(event_type.__name__)
    if known is None:
        hints = typing.get_type_hints(event_type)
        known = _FIELD_TYPES[event_type.__name__] = {
            f.name: hints[f.name] for f in dataclasses.fields(event_type)
            if f.init and f.name not in ("call_sid", "at")}
    return known


def _tuples(value: object) -> object:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def _fits(value: object, declared: object) -> bool:
    """A light check of a JSON value against an event field's declared type: enough that a row
    written with other types decodes to None rather than to an event that breaks its reader."""
    kind = typing.get_origin(declared) or declared
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in (str, bool, tuple, dict):
        return isinstance(value, cast(type, kind))
    return True


# -- the webhook outbox and drills ----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One end-of-call webhook delivery (storage/outbox.py). `body` is the frozen JSON text once
    the first attempt has built it; lists of deliveries leave it out (None)."""

    id: int
    idempotency_key: str
    call_sid: str
    kind: str
    status: str  # "pending" | "delivered" | "dead"
    attempts: int
    next_attempt_at: float
    last_error: str | None = None
    last_status: int | None = None
    created: float | None = None
    updated: float | None = None
    delivered_at: float | None = None
    body: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Delivery:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in row.items() if name in names})

    def to_json(self) -> dict[str, object]:
        """As `voiceconsole webhooks --json` lists it: every column but the body."""
        data = _to_json(self)
        del data["body"]
        return data


@dataclass(frozen=True)
class DrillSummary:
    """One drill as `voiceconsole drill --history` lists it (storage/drills.py)."""

    drill_id: str
    started: float
    ended: float | None
    score: int | None  # None: nothing was scored
    misses: int  # save_drill always writes these two
    scenarios: int
    operator: str | None

    @classmethod
    def from_row(cls, row: Row) -> DrillSummary:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})

    def to_json(self) -> dict[str, object]:
        """As `voiceconsole drill --history --json` lists it."""
        return _to_json(self)
