"""An operator's action crosses to the call's worker whole, and a control stream cannot be used
to call anything else on the worker."""

from __future__ import annotations

import json

import pytest

from console.fleet import actions
from console.fleet.actions import ActionRequest

SID = "CA" + "2" * 32


def as_redis_gives_it_back(fields: dict[str, str]) -> dict[bytes, bytes]:
    return {key.encode(): value.encode() for key, value in fields.items()}


@pytest.mark.parametrize("request_", [
    ActionRequest("take_over", SID, "alice", console="host:1"),
    ActionRequest("mute_agent", SID, "alice", {"muted": True}),
    ActionRequest("say", SID, "bob", {"text": "One moment, é ✓"}),
    ActionRequest("warm_transfer", SID, "bob", {"number": "billing", "reason": "a refund"}),
    ActionRequest("decide_reply", SID, "bob", {"decision": "edit", "text": "Tuesday at 3"}),
])
def test_an_action_comes_back_whole(request_: ActionRequest) -> None:
    back = actions.decode(as_redis_gives_it_back(request_.encode()))
    assert back == request_


def test_each_action_gets_its_own_request_id() -> None:
    assert ActionRequest("hang_up", SID, "a").request != ActionRequest("hang_up", SID, "a").request


@pytest.mark.parametrize("change", [
    {"action": "__init__"},  # not a CallControl action
    {"action": "send_operator_audio"},  # call audio does not cross the fleet
    {"args": json.dumps({"muted": "yes"})},  # not the argument's type
    {"args": json.dumps({"muted": True, "actor": "mallory"})},  # not one of its arguments
    {"args": "[true]"},
    {"args": "{not json"},
])
def test_an_entry_that_is_not_a_known_action_is_refused(change: dict[str, str]) -> None:
    fields = {**ActionRequest("mute_agent", SID, "alice", {"muted": True}).encode(), **change}
    assert actions.decode(fields) is None


def test_an_entry_missing_a_field_is_refused() -> None:
    fields = ActionRequest("hang_up", SID, "alice").encode()
    del fields["call_sid"]
    assert actions.decode(fields) is None
