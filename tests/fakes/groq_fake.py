"""A loopback Groq: `POST /openai/v1/chat/completions` streaming SSE exactly as PROTOCOLS.md 4.1.

Point the real `groq` SDK at `fake.base_url`. Behaviour is per model, so a test can fail only
the primary model:

    async with FakeGroq(reply="Sure. See you then.") as fake:
        fake.set_mode("429", model="llama-3.3-70b-versatile")
        ...
        await fake.wait_for(lambda: fake.responses and fake.responses[-1].disconnected)

Modes: ok | 429 | 500 | slow | midstream-error | 401 | json-invalid. Every request and every
token sent is recorded with `time.monotonic()`, so a bench can compute "end of first sentence
sent".

A request without `"stream": true` gets one `chat.completion` object, as Groq answers the
structured-output requests (`response_format` json_schema) the post-call summary makes. Such
requests are kept apart (`structured_requests`, `structured_responses`; `requests` and
`responses` stay the conversation's) and answered with `structured_reply`, verbatim as the
message content (a test gives JSON, or not); by default, a cooperative model's answer built from
the request's schema. It is sent whole once the model would have written it (the first-token
time plus the text at `tokens_per_s`, as a streamed reply: Groq does not stream structured
outputs). They follow only a mode set for their model (`set_mode(mode, model=...)`), so a test
that slows or fails "Groq" for the conversation does not also wait on summaries.
The shape (choices[0].message, finish_reason, usage, x_groq.id) is Groq's documented
non-streaming response (console.groq.com/docs/api-reference#chat-create). "json-invalid"
answers such a request as
Groq's best-effort JSON modes do when the output fails the schema: 400, code
`json_validate_failed`, with the generation in `failed_generation` (their structured-outputs
and JSON-mode docs describe the 400; the body is the error shape of their API reference).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

MODES = ("ok", "429", "500", "slow", "midstream-error", "401", "json-invalid")
DEFAULT_REPLY = "Sure, I can help with that. What day works best for you?"
DEFAULT_KEY = "test-groq-key"
SENTENCE_END = (".", "!", "?")
_ids = itertools.count(1)

Reply = str | list[str] | Callable[["GroqRequest"], str]


@dataclass
class GroqRequest:
    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    retry_count: int  # the SDK's x-stainless-retry-count: 0 first try, 1, 2 ... retries
    received: float  # time.monotonic()


@dataclass
class SentToken:
    text: str
    at: float  # time.monotonic() just after the write


@dataclass
class GroqResponse:
    request: GroqRequest
    mode: str
    status: int = 200
    tokens: list[SentToken] = field(default_factory=list)
    finished: bool = False  # `data: [DONE]` went out
    disconnected: bool = False  # the client went away before the end

    @property
    def text(self) -> str:
        return "".join(token.text for token in self.tokens)

    def first_sentence_sent_at(self) -> float | None:
        """When the token ending the first sentence (. ! ?) was sent, if one was."""
        for token in self.tokens:
            if token.text.rstrip().endswith(SENTENCE_END):
                return token.at
        return None


def split_tokens(text: str) -> list[str]:
    """Word-ish pieces, each keeping its leading space, as LLM tokens usually do."""
    return re.findall(r"\s*\S+", text)


class FakeGroq(LoopbackServer):
    name = "FakeGroq"

    def __init__(
        self,
        api_key: str = DEFAULT_KEY,
        *,
        reply: Reply = DEFAULT_REPLY,
        mode: str = "ok",
        first_token_ms: float = 150,
        tokens_per_s: float = 200,
        slow_s: float = 5.0,
        midstream_tokens: int = 3,
        usage_style: str = "x_groq",
        retry_after_ms: float | None = None,
        structured_reply: Reply | None = None,
    ) -> None:
        """`usage_style`: "x_groq" puts usage on the finish chunk (Groq); "split" sends the finish
        chunk bare and then a `choices: []` chunk with top-level `usage` (OpenAI-style servers).
        `retry_after_ms` adds `retry-after-ms` to 429/500 so the SDK retries without its 0.5 s
        back-off (tests stay fast); None sends only Groq's `retry-after: 0`."""
        super().__init__()
        self.api_key = api_key
        self.reply = reply
        self.first_token_ms = first_token_ms
        self.tokens_per_s = tokens_per_s
        self.slow_s = slow_s
        self.midstream_tokens = midstream_tokens
        self.usage_style = usage_style
        self.retry_after_ms = retry_after_ms
        self.requests: list[GroqRequest] = []
        self.responses: list[GroqResponse] = []
        self.structured_reply: Reply = structured_reply or schema_answer
        self.structured_requests: list[GroqRequest] = []
        self.structured_responses: list[GroqResponse] = []
        self._default_mode = _checked(mode)
        self._modes: dict[str, str] = {}

    # lifecycle -----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/v1/chat/completions", self._handle)

    # knobs and queries ------------------------------------------------------------------------

    def set_mode(self, mode: str, model: str | None = None) -> None:
        """Set the behaviour for one model, or the default for every model without its own."""
        if model is None:
            self._default_mode = _checked(mode)
        else:
            self._modes[model] = _checked(mode)

    def mode_for(self, model: str) -> str:
        return self._modes.get(model, self._default_mode)

    def _mode(self, model: str, streamed: bool) -> str:
        return self.mode_for(model) if streamed else self._modes.get(model, "ok")

    def requests_for(self, model: str) -> list[GroqRequest]:
        return [r for r in self.requests if r.model == model]

    # the endpoint ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        streamed = bool(recorded.body.get("stream"))
        authorized = request.headers.get("Authorization") == f"Bearer {self.api_key}"
        mode = self._mode(recorded.model, streamed) if authorized else "401"
        response = GroqResponse(recorded, mode)
        (self.responses if streamed else self.structured_responses).append(response)
        try:
            return await self._respond(request, response)
        except (asyncio.CancelledError, ConnectionResetError):
            response.disconnected = not response.finished
            raise
        finally:
            self._notify()

    async def _record(self, request: web.Request) -> GroqRequest:
        body = await request.json()
        recorded = GroqRequest(
            model=body.get("model", ""),
            messages=body.get("messages", []),
            body=body,
            retry_count=int(request.headers.get("x-stainless-retry-count", "0")),
            received=time.monotonic(),
        )
        (self.requests if body.get("stream") else self.structured_requests).append(recorded)
        self._notify()
        return recorded

    async def _respond(self, request: web.Request, response: GroqResponse) -> web.StreamResponse:
        mode = response.mode
        if mode in ("429", "500", "401"):
            response.status = int(mode)
            return self._status_error(mode)
        if mode == "slow":
            await self._sleep_unless_stopping(self.slow_s)
        if not response.request.body.get("stream"):
            return await self._whole(response)
        return await self._stream(request, response)

    # non-streaming (structured outputs) ---------------------------------------------------------

    async def _whole(self, response: GroqResponse) -> web.Response:
        """The whole answer at once, when the model would have finished writing it: the same
        first-token time and pace as a streamed reply (Groq does not stream structured outputs,
        so the caller of such a request waits for all of it)."""
        reply = self.structured_reply
        text = reply(response.request) if callable(reply) else "".join(reply)
        written = response.request.received + self.first_token_ms / 1000 + (
            len(split_tokens(text)) / self.tokens_per_s)
        await self._sleep_unless_stopping(max(0.0, written - time.monotonic()))
        if response.mode == "json-invalid":
            response.status = 400
            message = ("Failed to generate JSON. Please adjust your prompt. See "
                       "'failed_generation' for more details.")
            body = {"error": {"message": message, "type": "invalid_request_error",
                              "code": "json_validate_failed", "failed_generation": text}}
            return web.json_response(body, status=400)
        response.tokens.append(SentToken(text, time.monotonic()))
        response.finished = True
        return web.json_response(_completion(response.request, text))

    def _status_error(self, mode: str) -> web.Response:
        if mode == "401":
            return _error(401, "Invalid API Key", "invalid_request_error", "invalid_api_key")
        headers = {"retry-after": "0"}
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = str(self.retry_after_ms)
        if mode == "429":
            message = "Rate limit reached for model. Please try again in 0s."
            return _error(429, message, "tokens", "rate_limit_exceeded", headers)
        return _error(500, "Internal Server Error", "internal_server_error", None, headers)

    # SSE ---------------------------------------------------------------------------------------

    async def _stream(self, request: web.Request, response: GroqResponse) -> web.StreamResponse:
        sse = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await sse.prepare(request)
        chunks = _Chunks(response.request.model)
        await _send(sse, chunks.role())
        tokens = split_tokens(self._reply_text(response.request))
        if response.mode == "midstream-error":
            return await self._break_off(sse, response, chunks, tokens)
        await self._send_tokens(sse, response, chunks, tokens)
        await self._finish(sse, chunks, response, len(tokens))
        return sse

    async def _send_tokens(
        self, sse: web.StreamResponse, response: GroqResponse, chunks: _Chunks, tokens: list[str]
    ) -> None:
        start = response.request.received + self.first_token_ms / 1000
        for index, token in enumerate(tokens):
            due = start + index / self.tokens_per_s  # a schedule, so the pace never drifts
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await _send(sse, chunks.content(token))
            response.tokens.append(SentToken(token, time.monotonic()))
            self._notify()

    async def _finish(
        self, sse: web.StreamResponse, chunks: _Chunks, response: GroqResponse, completion: int
    ) -> None:
        usage = _usage(response.request, completion)
        if self.usage_style == "split":
            await _send(sse, chunks.finish(None))
            await _send(sse, chunks.usage_only(usage))
        else:
            await _send(sse, chunks.finish(usage))
        await sse.write(b"data: [DONE]\n\n")
        response.finished = True
        await sse.write_eof()

    async def _break_off(
        self, sse: web.StreamResponse, response: GroqResponse, chunks: _Chunks, tokens: list[str]
    ) -> web.StreamResponse:
        await self._send_tokens(sse, response, chunks, tokens[: self.midstream_tokens])
        error = {"message": "Service unavailable mid-stream", "type": "internal_server_error"}
        await _send(sse, {"error": error})
        await sse.write_eof()
        return sse

    def _reply_text(self, request: GroqRequest) -> str:
        if callable(self.reply):
            return self.reply(request)
        if isinstance(self.reply, list):
            return self.reply.pop(0) if self.reply else ""
        return self.reply


class _Chunks:
    """The `chat.completion.chunk` objects of one response."""

    def __init__(self, model: str) -> None:
        number = next(_ids)
        self._model = model
        self._id = f"chatcmpl-fake{number}"
        self._request_id = f"req_fake{number}"

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        base = {"id": self._id, "object": "chat.completion.chunk", "created": int(time.time())}
        return {**base, "model": self._model, "choices": choices, **extra}

    def role(self) -> dict[str, Any]:
        delta = {"role": "assistant", "content": ""}
        return self._chunk([_choice(delta)], system_fingerprint="fp_fake", x_groq=self._x())

    def content(self, text: str) -> dict[str, Any]:
        return self._chunk([_choice({"content": text})])

    def finish(self, usage: dict[str, Any] | None) -> dict[str, Any]:
        x_groq = self._x(usage=usage) if usage else self._x()
        return self._chunk([_choice({}, finish_reason="stop")], x_groq=x_groq)

    def usage_only(self, usage: dict[str, Any]) -> dict[str, Any]:
        return self._chunk([], usage=usage)

    def _x(self, **extra: Any) -> dict[str, Any]:
        return {"id": self._request_id, **extra}


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def schema_answer(request: GroqRequest) -> str:
    """What a cooperative model answers a json_schema request: the first enum value, empty
    lists, null fields, a short summary."""
    schema = request.body.get("response_format", {}).get("json_schema", {}).get("schema", {})
    return json.dumps(_instance(schema))


def _instance(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "object":
        return {k: _instance(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if schema.get("enum"):
        return schema["enum"][0]
    if isinstance(kind, list) and "null" in kind:
        return None
    return "The call ended." if kind == "string" else None


def _completion(request: GroqRequest, text: str) -> dict[str, Any]:
    number = next(_ids)
    message = {"role": "assistant", "content": text}
    return {
        "id": f"chatcmpl-fake{number}", "object": "chat.completion", "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(request, len(split_tokens(text))),
        "system_fingerprint": "fp_fake", "x_groq": {"id": f"req_fake{number}"},
    }


def _usage(request: GroqRequest, completion: int) -> dict[str, Any]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in request.messages)
    return {
        "queue_time": 0.01,
        "prompt_tokens": prompt,
        "prompt_time": 0.001,
        "completion_tokens": completion,
        "completion_time": 0.01,
        "total_tokens": prompt + completion,
        "total_time": 0.011,
    }


async def _send(sse: web.StreamResponse, payload: dict[str, Any]) -> None:
    await sse.write(f"data: {json.dumps(payload)}\n\n".encode())


def _error(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "code": code}}
    limits = {"x-ratelimit-limit-requests": "30", "x-ratelimit-remaining-requests": "29"}
    return web.json_response(body, status=status, headers={**limits, **(headers or {})})


def _checked(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown FakeGroq mode {mode!r}; one of {MODES}")
    return mode
