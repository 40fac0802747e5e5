"""The catch-up brief of a live call (issue 15) on both tiers: the deterministic extract on the
embedded tier, the summary model over the real groq SDK and the loopback Groq on the cloud tier,
and the extract again, saying why, whenever the model fails. The facts are the live summarizer's,
fed by the bus as in the runtime."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from console import events as ev
from console.profiles import load_profile
from console.providers.groq_summary import GroqJsonModel
from console.summary.brief import MAX_BRIEF_CHARS, Briefer, CallBrief, brief_by_rules
from console.summary.summarizer import Summarizer
from tests.fakes.groq_fake import FakeGroq

MODEL = "openai/gpt-oss-20b"
SID = "CAbrief"
T0 = 1_000.0
SAID = ["my name is Ana Ruiz and I'd like to book a cleaning", "Tuesday at ten works",
        "my number is 555 010 4477"]
EXTRACT = ("1:05 in · Ana Ruiz · asked: “my name is Ana Ruiz and I'd like…” · now: “my number "
           "is 555 010 4477” · callback number: 5550104477 · requested time: Tuesday at ten · "
           "kind of visit: cleaning")
GOOD = "Ana Ruiz is booking a cleaning for Tuesday at ten and has just given her number."


@pytest.fixture
async def groq() -> AsyncIterator[FakeGroq]:
    async with FakeGroq(slow_s=3.0) as fake:
        yield fake


async def scheduling(_: str) -> Any:
    return load_profile("scheduling")


def live_call(*emergencies: str) -> Summarizer:
    """A scheduling call in progress, 65 s in, as the summarizer heard it on the bus."""
    bus = ev.EventBus()
    summarizer = Summarizer(bus, scheduling)
    bus.subscribe(summarizer)
    bus.publish(ev.CallStarted(SID, stream_sid="MZ1", profile="scheduling", at=T0))
    for text in SAID:
        bus.publish(ev.TurnCompleted(SID, role="caller", text=text, started=0, ended=0))
        bus.publish(ev.TurnCompleted(SID, role="agent", text="Okay.", started=0, ended=0))
    for phrase in emergencies:
        bus.publish(ev.EmergencyDetected(SID, phrase=phrase, source="caller", text=phrase))
    return summarizer


def briefer(summarizer: Summarizer, model: Any = None, timeout_s: float = 5.0) -> Briefer:
    return Briefer(summarizer.live_facts, scheduling, model, timeout_s=timeout_s,
                   clock=lambda: T0 + 65)


async def all_briefs(briefer: Briefer) -> list[CallBrief]:
    return [brief async for brief in briefer.briefs(SID)]


async def test_the_embedded_tier_briefs_with_the_deterministic_extract() -> None:
    briefs = await all_briefs(briefer(live_call()))
    assert briefs == [CallBrief(EXTRACT, "rules")]


def test_the_extract_leads_with_an_emergency_and_stays_one_line() -> None:
    summarizer = live_call("chest pain")
    facts = summarizer.live_facts(SID)
    assert facts is not None
    facts.turns.append(("caller", "and " * 200 + "more"))
    text = brief_by_rules(facts, load_profile("scheduling"), T0 + 65)
    assert text.startswith("1:05 in · Ana Ruiz · EMERGENCY “chest pain” · asked:")
    assert "\n" not in text and len(text) <= MAX_BRIEF_CHARS


async def test_a_call_that_ended_has_no_brief() -> None:
    summarizer = live_call()
    summarizer(ev.CallEnded(SID, reason="caller hung up"))
    with pytest.raises(LookupError):
        await all_briefs(briefer(summarizer))
    await summarizer.drain()


async def test_the_cloud_tier_shows_the_extract_then_the_models_sentence(groq) -> None:
    groq.structured_reply = json.dumps({"brief": GOOD})
    model = GroqJsonModel(groq.api_key, groq.base_url, model=MODEL)
    try:
        briefs = await all_briefs(briefer(live_call(), model))
    finally:
        await model.aclose()
    assert briefs == [CallBrief(EXTRACT, "rules", pending=True), CallBrief(GOOD, "llm")]
    (request,) = groq.structured_requests
    assert request.body["response_format"]["json_schema"]["name"] == "call_brief"
    assert "caller: Tuesday at ten works" in request.messages[1]["content"]


@pytest.mark.parametrize(("answer", "mode", "problem"), [
    ("Ana wants a cleaning.", "ok", "not a JSON object"),
    (json.dumps({"brief": ""}), "ok", "no brief in the answer"),
    (json.dumps({"brief": GOOD}), "500", "HTTP 500"),
    (json.dumps({"brief": GOOD}), "slow", "no answer within 0.5 s"),
], ids=["not-json", "empty", "server-error", "too-slow"])
async def test_a_failing_model_leaves_the_extract_and_says_why(groq, answer, mode, problem):
    groq.structured_reply = answer
    groq.set_mode(mode, model=MODEL)
    groq.retry_after_ms = 1  # the SDK's one retry of a 500 without its back-off
    model = GroqJsonModel(groq.api_key, groq.base_url, model=MODEL)
    try:
        briefs = await all_briefs(briefer(live_call(), model, timeout_s=0.5))
    finally:
        await model.aclose()
    last = briefs[-1]
    assert (last.text, last.source, last.pending) == (EXTRACT, "rules", False)
    assert problem in last.problem
