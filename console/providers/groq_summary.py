"""Groq chat completions with a JSON-schema response: the cloud tier's post-call summary.

One request per ended call, not streamed (Groq's structured outputs do not stream), through the
official SDK: `response_format={"type": "json_schema", "json_schema": {"name", "schema",
"strict"}}`. `strict=True` asks for constrained decoding, which Groq offers on some models
(openai/gpt-oss-20b and -120b when this was written; see console.groq.com/docs/structured-outputs);
other models treat the schema as best effort and may answer 400 `json_validate_failed`. Either
way the caller checks the JSON it gets (console.summary.llm).

Raises `ProviderError` (a plain message, never the key) for any failure.
"""

from __future__ import annotations

from typing import Any

import groq
import httpx
from groq import AsyncGroq, DefaultAioHttpClient
from groq.types.chat import ChatCompletion
from groq.types.chat.completion_create_params import ResponseFormatResponseFormatJsonSchema

from console.providers.base import ProviderError
from console.providers.groq_llm import _describe, _scrub, wire_message

CONNECT_TIMEOUT_S = 3.0
_SAMPLE_ANSWER: dict[str, Any] = {  # JSON, as the server sends it
    "id": "warm-up", "object": "chat.completion", "created": 0, "model": "warm-up",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"},
                 "finish_reason": "stop"}],
}


class GroqJsonModel:
    """A `console.summary.llm.JsonModel` on Groq (or an OpenAI-compatible server, with the
    `base_url` caveats of groq_llm.py). One per process; close it with `aclose()`."""

    tier = "cloud"

    def __init__(self, api_key: str, base_url: str | None = None, *, model: str,
                 strict: bool = True, timeout_s: float = 15.0, max_tokens: int = 1024) -> None:
        if not api_key:
            raise ValueError("GroqJsonModel needs an API key")
        self._api_key, self._base_url = api_key, base_url
        self.model, self.strict = model, strict
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S))
        self._max_tokens = max_tokens
        self._client: AsyncGroq | None = None

    def __repr__(self) -> str:  # the key stays out of reprs and logs
        return f"GroqJsonModel(model={self.model!r}, strict={self.strict})"

    async def complete_json(self, messages: list[dict[str, str]], schema: dict[str, Any],
                            name: str) -> str:
        answer_format: ResponseFormatResponseFormatJsonSchema = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": self.strict}}
        try:
            completion = await self._sdk().chat.completions.create(
                model=self.model,
                messages=[wire_message(m["role"], m["content"]) for m in messages],
                response_format=answer_format,
                max_tokens=self._max_tokens,
                temperature=0.2,  # a record, not a conversation: the likeliest words
            )
        except groq.AuthenticationError as error:
            raise ProviderError("Groq refused the API key") from error
        except (groq.APIError, httpx.TransportError) as error:
            raise ProviderError(f"{self.model}: {_scrub(_describe(error), self._api_key)}"
                                ) from error
        return _content(completion, self.model)

    async def prepare(self) -> None:
        """Build the SDK client before the first call ends: building it (an SSL context, the
        SDK's lazy imports) is 40-60 ms on the loop, which the first summary paid while the
        other calls' audio waited. So are the answer's pydantic models, which the SDK builds
        when it reads its first answer (~13 ms)."""
        _ = self._sdk().chat.completions
        ChatCompletion.construct(**_SAMPLE_ANSWER)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _sdk(self) -> AsyncGroq:
        if self._client is None:
            # max_retries=1: the SDK retries a 429/5xx once (honouring retry-after) before the
            # summary falls back to the rules; nobody is waiting on the line any more. The
            # aiohttp transport, as the replies': httpx's own loads its async backend on the
            # first request (~25 ms of imports on the loop, at the first call's end).
            self._client = AsyncGroq(api_key=self._api_key, base_url=self._base_url,
                                     timeout=self._timeout, max_retries=1,
                                     http_client=DefaultAioHttpClient(timeout=self._timeout))
        return self._client


def _content(completion: ChatCompletion, model: str) -> str:
    choices = completion.choices
    if not choices:
        raise ProviderError(f"{model}: the answer had no choices")
    choice = choices[0]
    if choice.finish_reason == "length":
        raise ProviderError(f"{model}: the answer was cut off at the token limit")
    content = choice.message.content
    if not content:
        raise ProviderError(f"{model}: the answer was empty")
    return content
