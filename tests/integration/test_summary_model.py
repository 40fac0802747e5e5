"""The cloud tier's summary writer over the real groq SDK and the loopback Groq: whatever the model
does (answers nonsense, a disposition the profile lacks, too long, a 400, nothing in time), the
ended call gets exactly one summary, from the profile's rules, and the fallback is said aloud."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from console import events as ev
from console.profiles import load_profile
from console.providers.groq_summary import GroqJsonModel
from console.summary.summarizer import Summarizer
from tests.fakes.groq_fake import FakeGroq
from tests.integration.conftest import Watch

MODEL = "openai/gpt-oss-20b"
SID = "CAsummary"
SAID = ["I'd like to book a cleaning", "Tuesday at ten works", "my number is 555 010 4477"]
GOOD = {"summary": "A cleaning was booked. It is on Tuesday at ten.", "disposition": "booked",
        "action_items": ["Confirm by text."],
        "fields": {"name": None, "callback_number": "5550104477", "requested_time": "Tuesday 10",
                   "visit": "cleaning"}}


@pytest.fixture
async def groq() -> AsyncIterator[FakeGroq]:
    async with FakeGroq(slow_s=3.0) as fake:
        yield fake


async def summarize(groq: FakeGroq, *, timeout_s: float = 5.0) -> tuple[Summarizer, Watch]:
    """A scheduling call's events on a bus with a Summarizer on the loopback Groq."""
    bus = ev.EventBus()
    watch = Watch(bus)
    profile = load_profile("scheduling")

    async def profile_for(_: str) -> Any:
        return profile

    model = GroqJsonModel(groq.api_key, groq.base_url, model=MODEL, timeout_s=timeout_s)
    summarizer = Summarizer(bus, profile_for, model, timeout_s=timeout_s)
    bus.subscribe(summarizer)
    bus.publish(ev.CallStarted(SID, stream_sid="MZ1", profile="scheduling", at=100.0))
    for text in SAID:
        bus.publish(ev.TurnCompleted(SID, role="caller", text=text, started=0, ended=0))
    bus.publish(ev.CallEnded(SID, reason="caller hung up", at=160.0))
    return summarizer, watch


@pytest.mark.parametrize(("answer", "mode", "problem"), [
    ("Sure! They booked Tuesday.", "ok", "not JSON"),
    (json.dumps({**GOOD, "disposition": "sold"}), "ok", "'sold' is not one of"),
    (json.dumps({**GOOD, "summary": "One. Two. Three. Four."}), "ok", "longer than 3 sentences"),
    (json.dumps(GOOD), "json-invalid", "HTTP 400: Failed to generate JSON"),
], ids=["not-json", "unknown-disposition", "four-sentences", "400-json-validate-failed"])
async def test_an_invalid_answer_falls_back_to_the_rules_and_says_so(groq, answer, mode, problem):
    groq.structured_reply = answer
    groq.set_mode(mode, model=MODEL)
    summarizer, watch = await summarize(groq)
    try:
        await watch.until(lambda: watch.of("CallSummarized"))
    finally:
        await summarizer.aclose()

    (summarized,) = watch.of("CallSummarized")
    assert (summarized.source, summarized.disposition) == ("rules", "booked")
    assert dict(summarized.fields) == {"callback_number": "5550104477",
                                       "requested_time": "Tuesday at ten", "visit": "cleaning"}
    (degraded,) = watch.of("ProviderDegraded")
    assert (degraded.provider, degraded.fallback) == ("summary", "rules")
    assert problem in degraded.problem
    assert groq.structured_requests[0].body["response_format"]["type"] == "json_schema"


async def test_a_model_that_does_not_answer_in_time_is_replaced_by_the_rules(groq):
    groq.structured_reply = json.dumps(GOOD)
    groq.set_mode("slow", model=MODEL)  # 3 s, against a 0.3 s budget
    summarizer, watch = await summarize(groq, timeout_s=0.3)
    try:
        await watch.until(lambda: watch.of("CallSummarized"), within=2.0)
    finally:
        await summarizer.aclose()
    assert [e.source for e in watch.of("CallSummarized")] == ["rules"]
    assert "no answer within" in watch.of("ProviderDegraded")[0].problem


async def test_a_summary_cut_short_at_shutdown_is_still_published_once(groq):
    groq.structured_reply = json.dumps(GOOD)
    groq.set_mode("slow", model=MODEL)
    summarizer, watch = await summarize(groq, timeout_s=10.0)
    await groq.wait_for(lambda: groq.structured_requests)  # the model is thinking
    await summarizer.drain(timeout_s=0.1)
    await summarizer.aclose()
    assert summarizer.pending == 0
    assert [(e.source, e.disposition) for e in watch.of("CallSummarized")] == [("rules", "booked")]


async def test_a_good_answer_is_the_summary(groq):
    groq.structured_reply = json.dumps(GOOD)
    summarizer, watch = await summarize(groq)
    try:
        await watch.until(lambda: watch.of("CallSummarized"))
    finally:
        await summarizer.aclose()
    (summarized,) = watch.of("CallSummarized")
    assert (summarized.source, summarized.summary) == ("llm", GOOD["summary"])
    assert summarized.action_items == ("Confirm by text.",)
    assert not watch.of("ProviderDegraded")
    assert "stream" not in groq.structured_requests[0].body  # structured outputs are not streamed
