"""GroqLLM with the real groq SDK pointed at a loopback FakeGroq."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import groq
import pytest

from console.providers.base import ChatMessage, ProviderError
from console.providers.groq_llm import GroqLLM
from tests.fakes.groq_fake import FakeGroq

PRIMARY = "llama-3.3-70b-versatile"
FALLBACK = "llama-3.1-8b-instant"
REPLY = "Of course. Your appointment is on Tuesday at ten. Anything else?"
MESSAGES = [
    ChatMessage("system", "You book dentist appointments."),
    ChatMessage("user", "When is my appointment?"),
]


class RecordingObserver:
    def __init__(self) -> None:
        self.degradations: list[tuple[str, str, str]] = []
        self.llm_tokens: list[int] = []

    def degraded(self, provider: str, problem: str, fallback: str) -> None:
        self.degradations.append((provider, problem, fallback))

    def usage(
        self, *, llm_tokens: int = 0, tts_characters: int = 0, stt_seconds: float = 0.0
    ) -> None:
        self.llm_tokens.append(llm_tokens)


@pytest.fixture
async def fake() -> AsyncIterator[FakeGroq]:
    # Fast pacing keeps the suite quick; retry-after-ms skips the SDK's 0.5 s back-off.
    async with FakeGroq(reply=REPLY, first_token_ms=5, tokens_per_s=1000, retry_after_ms=1) as f:
        yield f


@pytest.fixture
async def llm(fake: FakeGroq) -> AsyncIterator[GroqLLM]:
    model = GroqLLM(fake.api_key, fake.base_url, timeout_s=0.5, max_retries=1)
    yield model
    await model.aclose()


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


async def collect(llm: GroqLLM, observer: RecordingObserver | None = None) -> list[str]:
    return [token async for token in llm.reply(MESSAGES, observer)]


async def test_reply_streams_the_tokens_in_order_and_reports_total_tokens(
    fake: FakeGroq, llm: GroqLLM, observer: RecordingObserver
) -> None:
    tokens = await collect(llm, observer)

    assert "".join(tokens) == REPLY
    assert tokens[:3] == ["Of", " course.", " Your"]
    assert all(tokens), "empty deltas (the role chunk, the finish chunk) are skipped"
    prompt_words = len("You book dentist appointments. When is my appointment?".split())
    assert observer.llm_tokens == [prompt_words + len(tokens)]
    assert observer.degradations == []


async def test_the_request_carries_model_messages_and_reply_budget(
    fake: FakeGroq, llm: GroqLLM
) -> None:
    await collect(llm)

    body = fake.requests[0].body
    assert body["model"] == PRIMARY
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert (body["stream"], body["max_tokens"], body["temperature"]) == (True, 200, 0.6)


async def test_usage_sent_on_its_own_chunk_after_the_finish_is_still_reported(
    fake: FakeGroq, llm: GroqLLM, observer: RecordingObserver
) -> None:
    fake.usage_style = "split"  # OpenAI-compatible servers: a trailing `choices: []` chunk

    tokens = await collect(llm, observer)

    assert "".join(tokens) == REPLY
    assert len(observer.llm_tokens) == 1 and observer.llm_tokens[0] > len(tokens)


async def test_a_rate_limited_primary_falls_back_after_the_sdk_retries_and_reports_it(
    fake: FakeGroq, llm: GroqLLM, observer: RecordingObserver
) -> None:
    fake.retry_after_ms = None  # Groq's real `retry-after: 0`: the SDK backs off ~0.5 s once
    fake.set_mode("429", model=PRIMARY)

    tokens = await collect(llm, observer)

    assert "".join(tokens) == REPLY
    assert [r.retry_count for r in fake.requests_for(PRIMARY)] == [0, 1]
    assert len(fake.requests_for(FALLBACK)) == 1
    [(provider, problem, fallback)] = observer.degradations
    assert (provider, fallback) == ("groq", FALLBACK)
    assert "429" in problem and PRIMARY in problem


async def test_both_models_failing_raises_a_plain_provider_error_without_the_key(
    fake: FakeGroq, llm: GroqLLM, observer: RecordingObserver
) -> None:
    fake.set_mode("500")

    with pytest.raises(ProviderError) as raised:
        await collect(llm, observer)

    message = str(raised.value)
    assert PRIMARY in message and FALLBACK in message and "500" in message
    assert fake.api_key not in message
    assert {r.model for r in fake.requests} == {PRIMARY, FALLBACK}
    assert len(observer.degradations) == 1


async def test_a_primary_slower_than_the_timeout_gives_way_to_the_fallback(
    fake: FakeGroq, observer: RecordingObserver
) -> None:
    fake.set_mode("slow", model=PRIMARY)
    fake.slow_s = 3.0
    llm = GroqLLM(fake.api_key, fake.base_url, timeout_s=0.3, max_retries=0)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        tokens = await collect(llm, observer)
        elapsed = loop.time() - started
    finally:
        await llm.aclose()

    assert "".join(tokens) == REPLY
    assert elapsed < 1.5, "the timeout, not the slow server, decides when we fall back"
    assert "timed out" in observer.degradations[0][1]


async def test_an_error_inside_the_stream_before_any_token_falls_back(
    fake: FakeGroq, llm: GroqLLM, observer: RecordingObserver
) -> None:
    fake.midstream_tokens = 0
    fake.set_mode("midstream-error", model=PRIMARY)

    tokens = await collect(llm, observer)

    assert "".join(tokens) == REPLY
    assert [r.model for r in fake.requests] == [PRIMARY, FALLBACK]
    assert "error mid-stream" in observer.degradations[0][1]


async def test_an_error_after_tokens_raises_keeping_the_partial_reply_and_never_restarts(
    fake: FakeGroq, llm: GroqLLM, observer: RecordingObserver
) -> None:
    fake.set_mode("midstream-error", model=PRIMARY)
    heard: list[str] = []

    with pytest.raises(ProviderError, match="broke off after 3 tokens"):
        async for token in llm.reply(MESSAGES, observer):
            heard.append(token)

    assert heard == ["Of", " course.", " Your"]
    assert [r.model for r in fake.requests] == [PRIMARY]
    assert observer.degradations == []


async def test_cancelling_the_consuming_task_closes_the_http_stream(
    fake: FakeGroq, llm: GroqLLM
) -> None:
    fake.tokens_per_s = 20  # 50 ms a token: the whole reply would take ~0.6 s
    first_token = asyncio.Event()

    async def speak() -> None:
        async for _token in llm.reply(MESSAGES):
            first_token.set()

    task = asyncio.create_task(speak(), name="test-consumer")
    await asyncio.wait_for(first_token.wait(), 2)
    task.cancel()

    await fake.wait_for(lambda: fake.responses[0].disconnected, timeout=1)
    assert not fake.responses[0].finished
    assert len(fake.responses[0].tokens) < len(REPLY.split())
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_closing_the_reply_early_closes_the_http_stream(fake: FakeGroq, llm: GroqLLM) -> None:
    fake.tokens_per_s = 20

    async with aclosing(llm.reply(MESSAGES)) as tokens:
        async for _token in tokens:
            break  # barge-in after the first word

    await fake.wait_for(lambda: fake.responses[0].disconnected, timeout=1)
    assert len(fake.responses[0].tokens) < len(REPLY.split())


async def test_a_refused_key_raises_at_once_without_trying_the_fallback(
    fake: FakeGroq, observer: RecordingObserver
) -> None:
    llm = GroqLLM("gsk_wrong_key", fake.base_url, timeout_s=0.5)
    try:
        with pytest.raises(ProviderError, match="Groq refused the API key") as raised:
            await collect(llm, observer)
    finally:
        await llm.aclose()

    assert "gsk_wrong_key" not in str(raised.value)
    assert [r.model for r in fake.requests] == [PRIMARY]
    assert observer.degradations == []


async def test_without_a_fallback_model_a_failing_primary_raises(
    fake: FakeGroq, observer: RecordingObserver
) -> None:
    fake.set_mode("500", model=PRIMARY)
    llm = GroqLLM(fake.api_key, fake.base_url, fallback_model=None, max_retries=0)
    try:
        with pytest.raises(ProviderError, match="HTTP 500"):
            await collect(llm, observer)
    finally:
        await llm.aclose()

    assert [r.model for r in fake.requests] == [PRIMARY]


async def test_the_fake_paces_tokens_and_records_when_the_first_sentence_ended(
    fake: FakeGroq, llm: GroqLLM
) -> None:
    fake.first_token_ms, fake.tokens_per_s = 60, 100  # 60 ms to " course.", then 10 ms a token

    await collect(llm)

    response = fake.responses[0]
    sentence_end = response.first_sentence_sent_at()
    assert sentence_end is not None
    first_sentence = sentence_end - response.request.received
    assert 0.06 + 0.01 <= first_sentence < 0.5
    assert response.tokens[1].text == " course." and response.tokens[1].at == sentence_end


async def test_a_reply_is_requested_with_the_very_body_the_sdks_create_sends(fake: FakeGroq):
    """GroqLLM posts through the SDK's client.post to skip create()'s per-message transform
    (6 ms of the loop at 41 messages); Groq must not be able to tell the difference."""
    history = [*MESSAGES, ChatMessage("assistant", "Tuesday at ten."),
               ChatMessage("user", "And what should I bring? Ça va?")]
    llm = GroqLLM(fake.api_key, fake.base_url, max_tokens=120, temperature=0.4)
    async with aclosing(llm.reply(history)) as tokens:
        async for _ in tokens:
            pass
    await llm.aclose()
    ours = fake.requests[-1]
    async with groq.AsyncGroq(api_key=fake.api_key, base_url=fake.base_url) as sdk:
        stream = await sdk.chat.completions.create(
            model=PRIMARY, messages=[{"role": m.role, "content": m.content} for m in history],
            stream=True, max_tokens=120, temperature=0.4)
        async for _ in stream:
            pass
    theirs = fake.requests[-1]
    assert ours.body == theirs.body
    assert ours.body["messages"][-1]["content"] == "And what should I bring? Ça va?"
