"""The webhook body: one finished call, built from the call store (never from live events), so
whatever the store keeps redacted stays redacted here. Pure; docs/webhook.md shows the shape."""

from __future__ import annotations

import json
from typing import Any

SCHEMA = 1  # bumped when a field changes meaning; new fields may appear without a bump
CALL_FIELDS = ("call_sid", "stream_sid", "from_number", "to_number", "profile", "started",
               "ended", "duration", "status", "end_reason", "emergency", "turn_count")
TURN_FIELDS = ("idx", "role", "text", "started", "ended", "interrupted")


def build_body(call: dict[str, Any], key: str, kind: str, created: float) -> str:
    """The JSON text sent for `call` (a CallRepository.get_call result)."""
    document = {
        "schema": SCHEMA,
        "type": kind,
        "idempotency_key": key,
        "created": created,
        "call": {name: call.get(name) for name in CALL_FIELDS},
        **_outcome(call),
        "recording": _recording(call),
        "turns": [{name: turn.get(name) for name in TURN_FIELDS} for turn in call["turns"]],
        "events": [{"kind": e["kind"], "at": e["at"], "payload": e["payload"]}
                   for e in call["events"]],
        "metrics": call["metrics"],
    }
    # default=str: one odd stored value must not make the whole delivery unsendable.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)


def _outcome(call: dict[str, Any]) -> dict[str, Any]:
    return {"summary": call.get("summary"), "disposition": call.get("disposition"),
            "action_items": call.get("action_items") or [], "fields": call.get("fields") or {},
            "summary_source": call.get("summary_source")}


def _recording(call: dict[str, Any]) -> dict[str, Any] | None:
    if not call.get("recording_path"):
        return None
    return {"path": call["recording_path"], "seconds": call.get("recording_seconds")}
