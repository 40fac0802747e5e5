"""One operator action as an entry of a worker's control stream (keys.control(worker)), and back.

A console writes the entry; the worker that owns the call reads it and calls the same-named
method of its CallControl (console/calls/control.py). An entry's fields are all strings:
    request  the console's id for this action: a failure names it (OperatorActionFailed)
    action   the CallControl method ("take_over", "mute_agent", ...)
    call_sid the call
    actor    the operator, as recorded in OperatorActed
    args     the method's other arguments as a JSON object ({"muted": true}, {"text": "..."})
    console  which console sent it (host and process), for the logs

Only the methods in ACTIONS may be named, with their own arguments of their own types: a
control stream is writable by anyone with the fleet's Redis, and must not become a way to call
anything else on the worker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.fleet.wire import new_id

# CallControl method -> its arguments besides call_sid and actor, with their types.
ACTIONS: dict[str, dict[str, type]] = {
    "take_over": {},
    "hand_back": {},
    "mute_agent": {"muted": bool},
    "pause_listening": {"paused": bool},
    "say": {"text": str},
    "whisper": {"guidance": str},
    "transfer": {"number": str},
    "warm_transfer": {"number": str, "reason": str},
    "hang_up": {},
    "gate_replies": {"on": bool},
    "decide_reply": {"decision": str, "text": str},
    "acknowledge": {"how": str},
}

FIELDS = ("request", "action", "call_sid", "actor", "args", "console")


@dataclass(frozen=True)
class ActionRequest:
    action: str
    call_sid: str
    actor: str
    args: dict[str, Any] = field(default_factory=dict)
    console: str = ""
    request: str = field(default_factory=new_id)

    def encode(self) -> dict[str, str]:
        return {"request": self.request, "action": self.action, "call_sid": self.call_sid,
                "actor": self.actor, "args": json.dumps(self.args, ensure_ascii=False),
                "console": self.console}


def decode(fields: Mapping[bytes | str, bytes | str]) -> ActionRequest | None:
    """The request an entry carries, or None when it is not one a worker may run (an unknown
    action, arguments that are not that action's): the worker skips it and logs why."""
    text = {_text(key): _text(value) for key, value in fields.items()}
    if any(name not in text for name in FIELDS) or text["action"] not in ACTIONS:
        return None
    try:
        args = json.loads(text["args"])
    except ValueError:
        return None
    if not _fits(args, ACTIONS[text["action"]]):
        return None
    return ActionRequest(text["action"], text["call_sid"], text["actor"], args,
                         text["console"], text["request"])


def _fits(args: object, expected: dict[str, type]) -> bool:
    """Every argument is one the action takes, of its type; optional ones may be left out."""
    if not isinstance(args, dict):
        return False
    return all(name in expected and type(value) is expected[name] for name, value in args.items())


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
