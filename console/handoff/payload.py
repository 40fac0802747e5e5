"""The webhook body: one finished call, built from the call store (never from live events), so
whatever the store keeps redacted stays redacted here. Pure; docs/webhook.md shows the shape."""

from __future__ import annotations

import json

from console.storage.records import CallDetail

SCHEMA = 1  # bumped when a field changes meaning; new fields may appear without a bump
CALL_FIELDS = ("call_sid", "stream_sid", "from_number", "to_number", "profile", "started",
               "ended", "duration", "status", "end_reason", "emergency", "turn_count")
TURN_FIELDS = ("idx", "role", "text", "started", "ended", "interrupted")


def build_body(call: CallDetail, key: str, kind: str, created: float) -> str:
    """The JSON text sent for `call` (a CallRepository.get_call result)."""
    document = {
        "schema": SCHEMA,
        "type": kind,
        "idempotency_key": key,
        "created": created,
        "call": {name: getattr(call, name) for name in CALL_FIELDS},
        **_outcome(call),
        "recording": _recording(call),
        "turns": [{name: getattr(turn, name) for name in TURN_FIELDS} for turn in call.turns],
        "events": [{"kind": e.kind, "at": e.at, "payload": dict(e.payload)} for e in call.events],
        "metrics": [group.to_json() for group in call.metrics],
    }
    # default=str: one odd stored value must not make the whole delivery unsendable.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)


def _outcome(call: CallDetail) -> dict[str, object]:
    return {"summary": call.summary, "disposition": call.disposition,
            "action_items": list(call.action_items), "fields": dict(call.fields),
            "summary_source": call.summary_source}


def _recording(call: CallDetail) -> dict[str, object] | None:
    if not call.recording_path:
        return None
    return {"path": call.recording_path, "seconds": call.recording_seconds}
