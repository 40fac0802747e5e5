"""Groq chat completions as a streaming `LanguageModel`, with a fallback model.

Works against any OpenAI-compatible server through `base_url` + `model`, with one catch: the groq
SDK (1.x) always requests `{base_url}/openai/v1/chat/completions` (it appends the path to any
path already in `base_url`, so the base must be the bare origin, never ending in `/openai/v1`).
Ask the server for that path:

- Groq: leave `base_url` unset (https://api.groq.com) or use `GROQ_BASE_URL`.
- llama.cpp: `llama-server --api-prefix /openai ...` registers `/openai/v1/chat/completions`
  (checked in llama.cpp's server source: every route is `api_prefix + path`); then
  `base_url="http://127.0.0.1:8080"`, `model` = whatever name the server accepts.
- Ollama serves only `/v1/chat/completions` and, as far as I could find, has no route-prefix
  setting, so put a reverse proxy in front that strips `/openai`, e.g. nginx
  `location /openai/ { proxy_pass http://127.0.0.1:11434/; proxy_buffering off; }` and
  `base_url="http://127.0.0.1:<nginx port>"`, `model="llama3.2"`. Not tried against a live Ollama.
  The SDK insists on a non-empty `api_key`; Ollama and llama.cpp ignore it unless configured.

Raises `ProviderError` (plain message, never the key) when every model it may use failed, when
the server refused the key (no fallback: the fallback would be refused too), or when a reply
broke off after the caller had already heard part of it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import groq
import httpx
from groq import AsyncGroq, AsyncStream, DefaultAioHttpClient
from groq.types.chat import ChatCompletion, ChatCompletionMessageParam

from console.providers.base import ChatMessage, ProviderError, ProviderObserver

log = logging.getLogger(__name__)

# Connecting should take tens of milliseconds; 3 s means the network is gone, fall back sooner
# than the 8 s a slow (but alive) generation is allowed.
CONNECT_TIMEOUT_S = 3.0
MAX_PROBLEM_CHARS = 200  # server messages are quoted in events and logs; keep them one line
COMPLETIONS_PATH = "/openai/v1/chat/completions"  # what chat.completions.create posts to


class _ModelFailed(Exception):
    """One model gave up; whether to fall back is the caller's decision."""

    def __init__(self, model: str, problem: str) -> None:
        super().__init__(f"{model}: {problem}")
        self.model = model
        self.problem = problem


@dataclass
class _Progress:
    tokens: int = 0
    usage_reported: bool = False


class GroqLLM:
    """Streams reply tokens from Groq (or an OpenAI-compatible server).

    One instance per process is the intent: it owns one `AsyncGroq` (one HTTP connection pool,
    created lazily inside the running loop) shared by every call. Close it with `aclose()`.

    Timing: the SDK retries 429/5xx/timeouts `max_retries` times (0.5 s back-off, or the
    server's `retry-after`) before this class switches to `fallback_model`. Worst case before
    the fallback starts is about (max_retries + 1) * timeout_s + 0.5 s.
    """

    tier = "cloud"

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        model: str = "llama-3.3-70b-versatile",
        fallback_model: str | None = "llama-3.1-8b-instant",
        max_tokens: int = 200,
        temperature: float = 0.6,
        timeout_s: float = 8.0,
        max_retries: int = 1,
    ) -> None:
        if not api_key:
            raise ValueError("GroqLLM needs an API key (any non-empty string for local servers)")
        self._api_key = api_key
        self._base_url = base_url
        self.model = model
        self.fallback_model = fallback_model if fallback_model != model else None
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S))
        self._max_retries = max_retries
        self._client: AsyncGroq | None = None

    def __repr__(self) -> str:  # the key stays out of reprs and logs
        return f"GroqLLM(model={self.model!r}, fallback_model={self.fallback_model!r})"

    async def prepare(self) -> None:
        """Build the SDK client, and touch `chat.completions`, before the first caller needs
        them: the SDK imports its resources lazily on first use (~30 ms, measured on loopback),
        which would otherwise land on the first caller's reply."""
        _ = self._sdk().chat.completions

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def reply(
        self, messages: Sequence[ChatMessage], observer: ProviderObserver | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield reply tokens (non-empty strings) in order.

        Stop early by cancelling the consuming task or closing this generator (`aclosing`);
        either closes the HTTP stream at once, so Groq stops generating (and billing).
        """
        payload = [wire_message(m.role, m.content) for m in messages]
        progress = _Progress()
        # aclosing: when our consumer closes us, the inner generator (and with it the HTTP
        # stream) is closed right there, not whenever the garbage collector gets to it.
        try:
            async with aclosing(self._stream(self.model, payload, observer, progress)) as tokens:
                async for token in tokens:
                    yield token
            return
        except _ModelFailed as failure:
            problem = self._give_up_unless_fallback(failure, progress)
        self._report_degraded(observer, problem)
        fallback = self._stream(self.fallback_model or "", payload, observer, progress)
        try:
            async with aclosing(fallback) as tokens:
                async for token in tokens:
                    yield token
        except _ModelFailed as failure:
            raise self._both_failed(problem, failure, progress) from failure.__cause__

    def _give_up_unless_fallback(self, failure: _ModelFailed, progress: _Progress) -> str:
        if progress.tokens:
            raise _broke_off(failure, progress) from failure.__cause__
        if self.fallback_model is None:
            raise ProviderError(f"Groq failed: {failure}") from failure.__cause__
        return f"{failure.model} failed: {failure.problem}"

    def _report_degraded(self, observer: ProviderObserver | None, problem: str) -> None:
        log.warning("LLM falling back to %s: %s", self.fallback_model, problem)
        if observer is not None:
            observer.degraded("groq", problem, self.fallback_model or "")

    def _both_failed(self, problem: str, failure: _ModelFailed, progress: _Progress) -> Exception:
        if progress.tokens:
            return _broke_off(failure, progress)
        return ProviderError(f"Groq failed on both models: {problem}; then {failure}")

    async def _stream(
        self,
        model: str,
        payload: list[ChatCompletionMessageParam],
        observer: ProviderObserver | None,
        progress: _Progress,
    ) -> AsyncGenerator[str, None]:
        stream = await self._open(model, payload)
        try:
            async for chunk in stream:
                _report_usage(chunk, observer, progress)
                text = _content_of(chunk)
                if text:
                    progress.tokens += 1
                    yield text
        except (groq.APIError, httpx.TransportError) as error:
            raise _ModelFailed(model, self._describe(error)) from error
        finally:
            # Runs on normal end, errors, cancellation and generator close alike: an abandoned
            # stream would keep a connection open and Groq generating for nobody.
            await stream.close()

    async def _open(self, model: str, payload: list[ChatCompletionMessageParam]
                    ) -> AsyncStream[object]:
        body = {"model": model, "messages": payload, "stream": True,
                "max_tokens": self._max_tokens, "temperature": self._temperature}
        try:
            # The SDK's client.post (its README: "Making custom/undocumented requests") with the
            # body `chat.completions.create` would send: create() first walks every message
            # through its TypedDict transform, an identity for plain chat messages that costs
            # 1.5 ms at 9 messages and 6.4 ms at 41, in one piece on the loop every call's
            # audio shares, on every turn, growing as the call goes on.
            # Each chunk comes as its JSON (AsyncStream[object]): building the SDK's pydantic
            # chunk model for every token, to read one field, was ~3 % of a worker's core at
            # 90 calls (py-spy).
            stream: AsyncStream[object] = await self._sdk().post(
                COMPLETIONS_PATH, body=body, cast_to=ChatCompletion, stream=True,
                stream_cls=AsyncStream[object])
            return stream
        except groq.AuthenticationError as error:
            raise ProviderError("Groq refused the API key") from error
        except (groq.APIError, httpx.TransportError) as error:
            raise _ModelFailed(model, self._describe(error)) from error

    def _sdk(self) -> AsyncGroq:
        if self._client is None:
            self._client = AsyncGroq(
                api_key=self._api_key,
                base_url=self._base_url,
                timeout=self._timeout,
                max_retries=self._max_retries,
                # The SDK's aiohttp transport (the `groq[aiohttp]` extra) instead of httpx's
                # own: a request reaches the wire in 4 fewer event-loop turns (10 against 14,
                # counted on loopback) and a streamed reply costs 3.1 ms of CPU instead of
                # 4.3. With 100 calls on the loop, every turn a request waits is ~1-5 ms.
                http_client=DefaultAioHttpClient(timeout=self._timeout),
            )
        return self._client

    def _describe(self, error: Exception) -> str:
        return _scrub(_describe(error), self._api_key)


def wire_message(role: str, content: str) -> ChatCompletionMessageParam:
    """One chat message as the SDK types it (a TypedDict per role)."""
    if role == "system":
        return {"role": "system", "content": content}
    if role == "user":
        return {"role": "user", "content": content}
    if role == "assistant":
        return {"role": "assistant", "content": content}
    raise ValueError(f"no chat role {role!r}")


def _content_of(chunk: object) -> str | None:
    """The chunk's text, read from its JSON as Groq sent it, whatever else it holds or lacks.
    OpenAI-compatible servers may send chunks with no choices (a usage-only chunk)."""
    choices = _field(chunk, "choices")
    if not isinstance(choices, list) or not choices:
        return None
    content = _field(_field(choices[0], "delta"), "content")
    return content if isinstance(content, str) else None


def _report_usage(chunk: object, observer: ProviderObserver | None,
                  progress: _Progress) -> None:
    """Groq puts usage in `x_groq.usage` on the final chunk; OpenAI-style servers may send a
    top-level `usage`, sometimes on a separate chunk after it. Report whichever comes first."""
    if observer is None or progress.usage_reported:
        return
    usage = _field(_field(chunk, "x_groq"), "usage") or _field(chunk, "usage")
    if not isinstance(usage, dict):
        return
    total = _tokens(usage, "total_tokens") or (
        _tokens(usage, "prompt_tokens") + _tokens(usage, "completion_tokens"))
    progress.usage_reported = True
    observer.usage(llm_tokens=total)


def _field(value: object, name: str) -> object:
    """`value[name]` of a JSON object; None for anything else (a server's odd chunk)."""
    return value.get(name) if isinstance(value, dict) else None


def _tokens(usage: dict[str, object], name: str) -> int:
    count = usage.get(name)
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _broke_off(failure: _ModelFailed, progress: _Progress) -> ProviderError:
    return ProviderError(
        f"Groq reply broke off after {progress.tokens} tokens ({failure}); not restarted "
        "because the caller already heard the start"
    )


def _describe(error: Exception) -> str:
    """A short plain description of an SDK or transport error (no headers, no key)."""
    if isinstance(error, groq.RateLimitError):
        return _with_server_message("rate limited (429)", error)
    if isinstance(error, groq.APIStatusError):
        return _with_server_message(f"HTTP {error.status_code}", error)
    if isinstance(error, groq.APITimeoutError | httpx.TimeoutException):
        return "timed out"
    if isinstance(error, groq.APIConnectionError | httpx.TransportError):
        return f"connection failed ({type(error.__cause__ or error).__name__})"
    return _with_server_message("error mid-stream", error)


def _with_server_message(prefix: str, error: Exception) -> str:
    message = _server_message(getattr(error, "body", None))
    return f"{prefix}: {message}" if message else prefix


def _server_message(body: object) -> str:
    # Status errors carry {"error": {...}}; in-stream errors carry the inner {...} itself.
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return " ".join(body["message"].split())
    return ""


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***")[:MAX_PROBLEM_CHARS] if secret else text
