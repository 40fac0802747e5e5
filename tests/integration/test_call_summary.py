"""After the call: every ended call gets one summary and disposition, on both tiers, over the real
server with a simulated caller (cloud: the real groq SDK against the loopback Groq), and the
summary is stored with the call."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from console import events as ev
from console.calls.session import SessionOptions
from console.storage.records import CallDetail
from console.storage.repository import CallRepository
from tests.integration.conftest import (
    CloudStack,
    Watch,
    spoken,
    start_cloud_stack,
    stop_cloud_stack,
)

# One utterance that says it all: the subject is what the call comes to, not turn-taking.
BOOKING = "I'd like to book a cleaning next Tuesday at ten thirty, my name is Maria Lopez"
WHEN = "next Tuesday at ten thirty"
MODEL_ANSWER = {
    "summary": "Maria Lopez booked a cleaning. It is on Tuesday at 10:30.",
    "disposition": "booked",
    "action_items": ["Send Maria a confirmation text."],
    "fields": {"requested_time": "Tuesday 10:30", "name": "Maria Lopez", "callback_number": None,
               "visit": "cleaning", "shoe_size": "9"},
}


async def booked_call(stack: CloudStack) -> Any:
    """A scheduling call that books a time and hangs up; returns its CallSummarized."""
    stack.deepgram.script = [BOOKING]
    watch = Watch(stack.runtime.bus)
    caller = stack.caller(spoken(600), fast=True, reply_quiet_ms=150)
    await caller.run()
    sid = caller.options.call_sid
    await watch.until(lambda: watch.of("CallSummarized", call_sid=sid))
    await stack.runtime.store.flush()
    (summarized,) = [e for e in stack.events("CallSummarized") if e.call_sid == sid]
    return summarized


def stored(stack: CloudStack, sid: str) -> CallDetail:
    with CallRepository(stack.runtime.settings.data.db) as repository:
        call = repository.get_call(sid)
    assert call is not None
    return call


# Agent audio unpaced, the recognizer's quick cadence: a whole call in well under a second.
QUICK: dict[str, Any] = {"options": SessionOptions(lead_s=600.0), "cadence": "eager"}


@pytest.fixture
async def embedded(tmp_path):
    """No GROQ_API_KEY: the scripted responder answers and the profile's rules summarize."""
    stack, parts = await start_cloud_stack(tmp_path, overrides={"groq_api_key": None}, **QUICK)
    yield stack
    await stop_cloud_stack(parts)


async def test_embedded_a_call_that_books_a_time_is_stored_as_booked_with_that_time(embedded):
    summarized = await booked_call(embedded)

    assert (summarized.source, summarized.disposition) == ("rules", "booked")
    fields = dict(summarized.fields)
    assert fields["requested_time"] == WHEN
    assert fields["name"] == "Maria Lopez"
    assert f"booked for {WHEN}" in summarized.summary
    assert summarized.action_items[0] == f"Put Maria Lopez in the diary for {WHEN}."
    call = stored(embedded, summarized.call_sid)
    assert (call.disposition, call.summary_source) == ("booked", "rules")
    assert call.fields["requested_time"] == WHEN
    assert call.summary == summarized.summary


async def test_cloud_the_model_writes_the_summary_from_a_json_schema_request(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path, **QUICK)
    stack.groq.structured_reply = json.dumps(MODEL_ANSWER)
    try:
        summarized = await booked_call(stack)
        (request,) = stack.groq.structured_requests
    finally:
        await stop_cloud_stack(parts)

    assert (summarized.source, summarized.disposition) == ("llm", "booked")
    assert summarized.summary == MODEL_ANSWER["summary"]
    # The profile's order; the null and the field the profile does not have are dropped.
    assert summarized.fields == (("name", "Maria Lopez"), ("requested_time", "Tuesday 10:30"),
                                 ("visit", "cleaning"))
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    schema = response_format["json_schema"]["schema"]
    assert schema["properties"]["disposition"]["enum"][:3] == ["booked", "rescheduled",
                                                               "cancelled"]
    assert response_format["json_schema"]["strict"] is True
    assert "Maria Lopez" in request.messages[-1]["content"]  # the transcript went in
    assert stack.events("ProviderDegraded") == []


async def test_an_edit_in_a_running_console_is_written_by_its_store_and_heard_on_the_bus(
    embedded,
):
    bus = embedded.runtime.bus
    bus.publish(ev.CallStarted("CAedit", stream_sid="MZ", profile="scheduling"))
    bus.publish(ev.CallSummarized("CAedit", summary="Booked.", disposition="booked"))
    await embedded.runtime.store.flush()

    edits = await asyncio.to_thread(embedded.runtime.history.edit_call, "CAedit",
                                    {"disposition": "cancelled"}, "alice")

    assert embedded.events("SummaryEdited") == edits  # published, so every face hears of it
    call = stored(embedded, "CAedit")  # and written before edit_call returned
    assert call.disposition == "cancelled"
    (audit,) = [e.payload for e in call.events if e.kind == "SummaryEdited"]
    assert audit == {"item": "disposition", "old": "booked", "new": "cancelled", "actor": "alice"}
