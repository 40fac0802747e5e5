"""The LanguageModel contract, run against every provider.

To add a provider, write an async context manager `factory(reply) -> LLMSubject` and add it to
FACTORIES. `reply` is the text the test would like; a provider that cannot be told what to say
(a scripted responder) sets `expected` to what it will actually say. `generation_stopped`, when
the provider has a backend that can observe it, waits until that backend saw the reply abandoned.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass

import pytest

from console.providers.base import ChatMessage, LanguageModel
from console.providers.groq_llm import GroqLLM
from tests.fakes.groq_fake import FakeGroq

REPLY = "Thanks for calling. I can book you in on Friday at nine. Does that suit you?"
MESSAGES = [ChatMessage("system", "You are brief."), ChatMessage("user", "Can I book a visit?")]


@dataclass
class LLMSubject:
    model: LanguageModel
    expected: str
    generation_stopped: Callable[[], Awaitable[None]] | None = None


LLMFactory = Callable[[str], AbstractAsyncContextManager[LLMSubject]]


@asynccontextmanager
async def groq_on_fake(reply: str) -> AsyncIterator[LLMSubject]:
    # 50 tokens/s: slow enough that a reply left running would still be going when checked.
    async with FakeGroq(reply=reply, first_token_ms=5, tokens_per_s=50) as fake:
        llm = GroqLLM(fake.api_key, fake.base_url, timeout_s=1.0)

        async def stopped() -> None:
            await fake.wait_for(lambda: fake.responses and fake.responses[-1].disconnected, 1.0)

        try:
            yield LLMSubject(llm, reply, stopped)
        finally:
            await llm.aclose()


FACTORIES = [pytest.param(groq_on_fake, id="groq")]


@pytest.fixture(params=FACTORIES)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[LLMSubject]:
    factory: LLMFactory = request.param
    async with factory(REPLY) as made:
        yield made


async def test_joined_tokens_are_the_reply_text(subject: LLMSubject) -> None:
    tokens = [token async for token in subject.model.reply(MESSAGES)]

    assert "".join(tokens) == subject.expected
    assert len(tokens) > 1, "a reply streams in pieces, so speech can start early"
    assert all(isinstance(token, str) and token for token in tokens)


async def test_the_provider_declares_its_tier(subject: LLMSubject) -> None:
    assert subject.model.tier in {"cloud", "local", "scripted"}


async def test_cancelling_after_the_first_token_stops_the_reply(subject: LLMSubject) -> None:
    heard: list[str] = []
    first = asyncio.Event()

    async def consume() -> None:
        async with aclosing(subject.model.reply(MESSAGES)) as tokens:
            async for token in tokens:
                heard.append(token)
                first.set()

    task = asyncio.create_task(consume(), name="contract-consumer")
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()

    done, _ = await asyncio.wait({task}, timeout=1)
    assert task in done and task.cancelled(), "cancellation must end the reply promptly"
    assert "".join(heard) != subject.expected, "the reply was stopped, not finished"
    if subject.generation_stopped is not None:
        await subject.generation_stopped()


async def test_closing_the_reply_after_the_first_token_stops_it(subject: LLMSubject) -> None:
    async with aclosing(subject.model.reply(MESSAGES)) as tokens:
        first = await anext(tokens)

    assert first and subject.expected.startswith(first)
    if subject.generation_stopped is not None:
        await subject.generation_stopped()
