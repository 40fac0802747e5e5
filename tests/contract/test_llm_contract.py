"""The LanguageModel contract (base.py), run against every model the console can use.

Each provider is a fixture parameter: Groq on the real SDK against the loopback fake, Groq
falling back to its second model when the first fails (the LLM's fallback lives inside GroqLLM),
and the scripted responder. Every reply is asked for as the session asks, with `observer=`.

To add a provider, write an async context manager `factory(reply) -> LLMSubject` and add it to
FACTORIES. `reply` is the text the test would like; a provider that cannot be told what to say
(a scripted responder) sets `expected` to what it will actually say. `generation_stopped`, when
the provider has a backend that can observe it, waits until that backend saw the reply abandoned.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from console.providers.base import ChatMessage, LanguageModel, ProviderError
from tests.contract import providers
from tests.contract.support import (
    RecordingObserver,
    cancel_after,
    closing,
    nothing_left_running,
)
from tests.fakes.groq_fake import FakeGroq

pytestmark = pytest.mark.timeout(30)

REPLY = "Thanks for calling. I can book you in on Friday at nine. Does that suit you?"
MESSAGES = [ChatMessage("system", "You are brief."), ChatMessage("user", "Can I book a visit?")]
PRIMARY, SECOND = "llama-3.3-70b-versatile", "llama-3.1-8b-instant"


@dataclass
class LLMSubject:
    model: LanguageModel
    expected: str
    observer: RecordingObserver
    generation_stopped: Callable[[], Awaitable[None]] | None = None


LLMFactory = Callable[[str], AbstractAsyncContextManager[LLMSubject]]


@asynccontextmanager
async def groq_on_fake(reply: str, *, primary_fails: bool = False) -> AsyncIterator[LLMSubject]:
    # 50 tokens/s: slow enough that a reply left running would still be going when checked.
    async with FakeGroq(reply=reply, first_token_ms=5, tokens_per_s=50) as fake:
        if primary_fails:
            fake.set_mode("500", model=PRIMARY)
        llm = providers.groq(fake.api_key, fake.base_url, fallback_model=SECOND)

        async def stopped() -> None:
            await fake.wait_for(lambda: fake.responses and fake.responses[-1].disconnected, 1.0)

        try:
            yield LLMSubject(llm, reply, RecordingObserver(), stopped)
        finally:
            await llm.aclose()


def groq_second_model(reply: str) -> AbstractAsyncContextManager[LLMSubject]:
    return groq_on_fake(reply, primary_fails=True)


@asynccontextmanager
async def scripted(reply: str) -> AsyncIterator[LLMSubject]:
    responder = providers.ScriptedResponder(providers.profile())
    yield LLMSubject(responder, responder.respond(MESSAGES), RecordingObserver())


FACTORIES = [
    pytest.param(groq_on_fake, id="groq"),
    pytest.param(groq_second_model, id="groq-fallback-model"),
    pytest.param(scripted, id="scripted"),
]


@pytest.fixture(params=FACTORIES)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[LLMSubject]:
    factory: LLMFactory = request.param
    async with factory(REPLY) as made:
        yield made


def reply(subject: LLMSubject) -> AsyncIterator[str]:
    """As the session asks (calls/lines.py, calls/gate.py): with the call as observer."""
    return subject.model.reply(MESSAGES, observer=subject.observer)


# --- streaming shape ----------------------------------------------------------------------------


async def test_joined_tokens_are_the_reply_text(subject: LLMSubject) -> None:
    tokens = [token async for token in reply(subject)]

    assert "".join(tokens) == subject.expected
    assert len(tokens) > 1, "a reply streams in pieces, so speech can start early"
    assert all(isinstance(token, str) and token for token in tokens)


def test_the_contract_and_every_model_take_the_observer_the_session_passes() -> None:
    declared: list[Callable[..., Any]] = [
        LanguageModel.reply, providers.GroqLLM.reply, providers.ScriptedResponder.reply
    ]
    for reply_of in declared:
        parameter = inspect.signature(reply_of).parameters.get("observer")
        assert parameter is not None and parameter.default is None, reply_of.__qualname__


# --- cancellation ---------------------------------------------------------------------------------


async def test_cancelling_after_the_first_token_stops_the_reply(subject: LLMSubject) -> None:
    heard: list[str] = []
    first = asyncio.Event()

    async def consume() -> None:
        async with closing(reply(subject)) as tokens:
            async for token in tokens:
                heard.append(token)
                first.set()

    async with nothing_left_running():
        task = await cancel_after(first, consume())
        assert task.done() and task.cancelled(), "cancellation must end the reply promptly"
    assert "".join(heard) != subject.expected, "the reply was stopped, not finished"
    if subject.generation_stopped is not None:
        await subject.generation_stopped()


async def test_closing_the_reply_after_the_first_token_stops_it(subject: LLMSubject) -> None:
    async with nothing_left_running(), closing(reply(subject)) as tokens:
        first = await anext(tokens)

    assert first and subject.expected.startswith(first)
    if subject.generation_stopped is not None:
        await subject.generation_stopped()


# --- the errors each declares -----------------------------------------------------------------


async def groq_error(mode: str, *, fallback: str | None = SECOND, **fake_options: Any) -> str:
    """What a reply from Groq raises when the fake answers in `mode`; the tokens heard before."""
    heard: list[str] = []
    async with FakeGroq(reply=REPLY, first_token_ms=5, mode=mode, **fake_options) as fake:
        llm = providers.groq(fake.api_key, fake.base_url, fallback_model=fallback)
        try:
            with pytest.raises(ProviderError) as raised:
                async for token in llm.reply(MESSAGES, observer=RecordingObserver()):
                    heard.append(token)
        finally:
            await llm.aclose()
    assert fake.api_key not in str(raised.value)
    return f"{raised.value} | heard {''.join(heard)!r}"


async def refused_key() -> None:
    assert "refused the API key" in await groq_error("401")


async def both_models_fail() -> None:
    assert "both models" in await groq_error("500")


async def broken_off_mid_reply() -> None:
    raised = await groq_error("midstream-error", midstream_tokens=3)
    assert "broke off after 3 tokens" in raised and "heard 'Thanks for calling.'" in raised


async def server_dead() -> None:
    llm = providers.groq("any-key", providers.DEAD_URL, fallback_model=None)
    try:
        with pytest.raises(ProviderError, match="Groq failed: "):
            await anext(llm.reply(MESSAGES, observer=None))
    finally:
        await llm.aclose()


async def second_model_is_a_degrade_event() -> None:
    async with groq_second_model(REPLY) as subject:
        assert "".join([token async for token in reply(subject)]) == REPLY
    [(provider, problem, instead)] = subject.observer.degradations
    assert (provider, instead) == ("groq", SECOND) and "HTTP 500" in problem


async def scripted_never_raises() -> None:
    """An unmatched turn gets the profile's fallback line."""
    responder = providers.ScriptedResponder(providers.profile())
    said = [token async for token in responder.reply([ChatMessage("user", "zxq vrrm")])]
    assert "".join(said) == providers.profile().responder.fallback


FAILURES = {
    "groq-refused-key-raises-provider-error": refused_key,
    "groq-both-models-failing-raise-provider-error": both_models_fail,
    "groq-reply-broken-off-raises-provider-error": broken_off_mid_reply,
    "groq-dead-server-raises-provider-error": server_dead,
    "groq-second-model-is-a-degrade-event": second_model_is_a_degrade_event,
    "scripted-unmatched-turn-gets-the-fallback-line": scripted_never_raises,
}


@pytest.mark.parametrize("failure", list(FAILURES.values()), ids=list(FAILURES))
async def test_a_failure_surfaces_as_the_provider_declares(
    failure: Callable[[], Awaitable[None]],
) -> None:
    async with nothing_left_running():
        await failure()


# --- which one a call gets ------------------------------------------------------------------


@pytest.mark.parametrize("cloud", [True, False], ids=["with-groq-key", "without"])
async def test_the_registry_gives_a_call_the_model_of_the_tier_it_reports(cloud: bool) -> None:
    registry = providers.registry(cloud=cloud)
    try:
        llm = registry.llm(providers.profile())
        expected = providers.GroqLLM if cloud else providers.ScriptedResponder
        assert isinstance(llm, expected)
        assert llm.tier == registry.tiers()["llm"].kind == ("cloud" if cloud else "scripted")
    finally:
        await registry.aclose()
