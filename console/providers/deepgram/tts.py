"""Deepgram Aura text-to-speech: one speak WebSocket per call, REST when the socket fails.

A chunk of speech (the reply's first clause, then each sentence) is `Speak` + `Flush`; its audio
ends at `Flushed`. A chunk abandoned mid-way (barge-in cancels the consumer) sends `Clear`, and the
next chunk first drains the socket up to `Cleared` (bounded; otherwise the socket is replaced), so
stale audio can never leak into it.

Deepgram processes at most 20 Flushes a socket in 60 s, then answers with a Warning and no audio
(docs: tts-ws-flush, "Limits"); a busy call spends that (3 sentences after a first clause are 4
Flushes; a turn every 5-10 s makes 24-48 a minute). So each socket counts its Flushes and a chunk
past the limit goes by REST (same audio, no degraded notice); a Flush Deepgram refuses anyway is
cleared off the socket, so its text is never spoken late, and the chunk goes by REST too.
Raises ProviderError when Deepgram refuses the key, or when the socket and REST both fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import httpx
from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.speak.v1.types import SpeakV1Text
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from console.providers.base import ProviderError, ProviderObserver
from console.providers.deepgram.client import (
    SAMPLE_RATE,
    close_description,
    handshake_problem,
    make_client,
)
from console.providers.queues import Inbox

log = logging.getLogger(__name__)

PROVIDER = "deepgram-tts"
SEND_TIMEOUT_S = 0.5  # a Clear/Close that cannot be written in 0.5 s means a dead socket
CLOSE_TIMEOUT_S = 1.0  # the close handshake otherwise waits up to 10 s (websockets default)
_NETWORK_ERRORS = (ConnectionClosed, OSError, TimeoutError, InvalidHandshake)
_DEAD = object()  # the reader's last inbox item
FLUSH_LIMIT = 20  # Flushes a socket may send in any FLUSH_WINDOW_S (docs: tts-ws-flush, "Limits")
# Deepgram's window is 60 s, timed by its clock at arrival; ours is timed at sending. A second more
# covers network jitter between two Flushes 20 apart, so our count never runs ahead of theirs.
FLUSH_WINDOW_S = 61.0
# Messages read off the speak socket and not yet taken: a sentence's audio chunks, then Flushed.
# The sentence being spoken takes each chunk as it comes (into the pacer), so a few wait at most;
# 256 chunks is more than a long sentence. Past that the reader stops reading the socket
# (backpressure: nothing is lost) instead of holding whatever a runaway socket sends.
INBOX_LIMIT = 256


class _SocketFailed(Exception):
    """The speak socket failed or stalled during a sentence."""


class _FlushLimited(Exception):
    """This chunk may not be flushed on the socket: its Flush budget is spent, or was refused."""


class _FlushBudget:
    """The Flushes sent on one socket in the last `window_s` (a sliding window, so it also keeps
    within any fixed window Deepgram may count in)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._sent: deque[float] = deque()

    def left(self) -> int:
        now = time.monotonic()
        while self._sent and now - self._sent[0] >= self.window_s:
            self._sent.popleft()
        return self.limit - len(self._sent)

    def spend(self) -> None:
        self._sent.append(time.monotonic())

    def exhaust(self) -> None:
        """Deepgram refused a Flush our count allowed: none are left for a whole window."""
        self._sent = deque([time.monotonic()] * self.limit)


@dataclass
class _Progress:
    sent: int = 0  # audio bytes of the current sentence already yielded


class DeepgramTTS:
    """Aura voice as headerless mu-law 8 kHz. One instance per call, one sentence at a time."""

    tier = "cloud"

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        voice: str = "aura-asteria-en",
        observer: ProviderObserver | None = None,
        clear_timeout_s: float = 1.0,
        stall_timeout_s: float = 5.0,
        ws_retry_after_s: float = 30.0,
        rest_timeout_s: float = 10.0,
        flush_limit: int = FLUSH_LIMIT,
        flush_window_s: float = FLUSH_WINDOW_S,
        client: AsyncDeepgramClient | None = None,
    ) -> None:
        """`clear_timeout_s`: how long the next sentence waits for `Cleared` before replacing the
        socket. `stall_timeout_s`: silence mid-sentence that counts as a failed socket.
        `ws_retry_after_s`: after the socket could not even be opened, sentences go straight to
        REST for this long instead of paying a failing handshake each time.
        `flush_limit` / `flush_window_s`: the Flushes one socket may send in any window; a chunk
        past them goes by REST."""
        self._api_key = api_key
        self._base_url = base_url
        self.voice = voice
        self.observer = observer
        self.clear_timeout_s = clear_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.ws_retry_after_s = ws_retry_after_s
        self.rest_timeout_s = rest_timeout_s
        self.flush_limit = flush_limit
        self.flush_window_s = flush_window_s
        # Shared per process when the registry passes one (see DeepgramSTT); else made lazily.
        self._client: AsyncDeepgramClient | None = client
        self._http: httpx.AsyncClient | None = None
        self._socket: _SpeakSocket | None = None
        self._ws_retry_at = 0.0
        self._ws_problem = ""
        self._degraded = False
        self._open_lock = asyncio.Lock()

    async def prepare(self) -> None:
        """Open the speak socket ahead of the first sentence, so the caller's first answer does
        not pay the WebSocket handshake (measured: ~25 ms on loopback, more over the internet)."""
        try:
            await self._ready_socket()
        except ProviderError as error:
            log.warning("Deepgram TTS could not be prepared: %s", error)

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Yield mu-law audio for `text`: over the socket, or REST if the socket fails (a REST
        retry skips the bytes already yielded, so the caller does not hear them twice)."""
        if not text.strip():
            return
        if self.observer is not None:
            self.observer.usage(tts_characters=len(text))
        progress = _Progress()
        try:
            async with contextlib.aclosing(self._over_socket(text, progress)) as audio:
                async for chunk in audio:
                    yield chunk
            return
        except _FlushLimited as exc:
            problem = str(exc)  # a busy call, not a fault: no degraded notice
            log.info("Deepgram TTS %s; this chunk goes over REST", problem)
        except _SocketFailed as exc:
            problem = str(exc)
            log.warning("Deepgram TTS %s; this sentence goes over REST", problem)
            self._tell_degraded(problem)
        async with contextlib.aclosing(self._rest(text, progress.sent, problem)) as audio:
            async for chunk in audio:
                yield chunk

    async def _over_socket(self, text: str, progress: _Progress) -> AsyncGenerator[bytes, None]:
        """A reused socket that fails before any audio most likely died while idle (and was
        noticed late): one fresh socket is tried before REST."""
        for attempt in (1, 2):
            socket = await self._ready_socket()
            if socket is None:
                raise _SocketFailed(self._ws_problem)
            if socket.flushes.left() <= 0:
                raise _FlushLimited(f"speak socket spent its {self.flush_limit} Flushes")
            fresh = socket.sentences == 0
            try:
                async with contextlib.aclosing(
                    socket.sentence(text, self.stall_timeout_s)
                ) as audio:
                    async for chunk in audio:
                        progress.sent += len(chunk)
                        yield chunk
                self._degraded = False
                return
            except _SocketFailed:
                await self._drop_socket()
                if progress.sent or fresh or attempt == 2:
                    raise

    async def aclose(self) -> None:
        """Send Close and close the socket and the HTTP client."""
        await self._drop_socket(polite=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def client(self) -> AsyncDeepgramClient:
        if self._client is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.rest_timeout_s, connect=3.0))
            self._client = make_client(self._api_key, self._base_url, httpx_client=self._http)
        return self._client

    async def _ready_socket(self) -> _SpeakSocket | None:
        """The socket, clean for a new sentence: opened, or reopened if it died, or None."""
        socket = self._socket
        if socket is not None and socket.owner is not None:
            await socket.abandon()  # the last sentence's generator was dropped without closing
        if (
            socket is not None
            and socket.needs_clear
            and not await socket.drain(self.clear_timeout_s)
        ):
            await self._drop_socket()
        if self._socket is not None and self._socket.dead:
            await self._drop_socket()
        async with self._open_lock:  # prepare() and a first sentence may race to open it
            if self._socket is None and time.monotonic() >= self._ws_retry_at:
                await self._open_socket()
        return self._socket

    async def _open_socket(self) -> None:
        try:
            budget = _FlushBudget(self.flush_limit, self.flush_window_s)
            self._socket = await _SpeakSocket.open(self.client(), self.voice, budget)
            return
        except ApiError as exc:
            problem = handshake_problem(exc)  # a refused key raises ProviderError here
        except _NETWORK_ERRORS as exc:
            problem = f"speak socket unreachable ({type(exc).__name__})"
        log.warning("Deepgram TTS %s; using REST for %.0f s", problem, self.ws_retry_after_s)
        self._ws_problem = problem
        self._ws_retry_at = time.monotonic() + self.ws_retry_after_s

    async def _drop_socket(self, polite: bool = False) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close(polite)

    def _tell_degraded(self, problem: str) -> None:
        if not self._degraded and self.observer is not None:
            self.observer.degraded(PROVIDER, problem or "speak socket failed", "rest")
        self._degraded = True

    async def _rest(self, text: str, skip: int, problem: str) -> AsyncGenerator[bytes, None]:
        stream = self.client().speak.v1.audio.generate(
            text=text, model=self.voice, encoding="mulaw", sample_rate=SAMPLE_RATE,
            container="none",  # with mulaw the default container is wav: a header Twilio would play
        )  # fmt: skip
        try:
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    chunk, skip = chunk[skip:], max(0, skip - len(chunk))
                    if chunk:
                        yield chunk
        except ApiError as exc:
            if exc.status_code in (401, 403):
                raise ProviderError("Deepgram refused the API key") from None
            raise _rest_failed(f"HTTP {exc.status_code}", problem) from None
        except (httpx.HTTPError, OSError) as exc:
            raise _rest_failed(type(exc).__name__, problem) from None


def _rest_failed(detail: str, problem: str) -> ProviderError:
    return ProviderError(f"Deepgram text-to-speech failed: socket ({problem}) and REST ({detail})")


class _SpeakSocket:
    """One open speak WebSocket and the task that reads it into an inbox."""

    def __init__(self, stack: contextlib.AsyncExitStack, conn: Any, flushes: _FlushBudget) -> None:
        self._stack = stack
        self._conn = conn
        self.flushes = flushes
        self.inbox: Inbox[object] = Inbox(INBOX_LIMIT)
        self.dead = False
        self.problem = "speak socket closed"
        self.owner: object | None = None  # token of the sentence whose audio is arriving
        self.needs_clear = False  # a Clear went out; its Cleared has not been read yet
        self.sentences = 0
        self._reader = asyncio.create_task(self._read(), name="deepgram-tts-recv")

    @classmethod
    async def open(
        cls, client: AsyncDeepgramClient, voice: str, flushes: _FlushBudget
    ) -> _SpeakSocket:
        stack = contextlib.AsyncExitStack()
        try:
            connect = client.speak.v1.connect(
                model=voice, encoding="mulaw", sample_rate=SAMPLE_RATE
            )
            conn = await stack.enter_async_context(connect)
        except BaseException:
            await stack.aclose()
            raise
        return cls(stack, conn, flushes)

    async def sentence(self, text: str, stall_s: float) -> AsyncGenerator[bytes, None]:
        """Speak + Flush, then audio until Flushed. Raises _SocketFailed, or _FlushLimited when
        Deepgram refused the Flush (then the text is cleared, so no later Flush speaks it)."""
        token = object()
        self.owner = token
        self.sentences += 1
        complete = False
        try:
            await self._send(self._conn.send_text(SpeakV1Text(text=text)))
            await self._send(self._conn.send_flush())
            self.flushes.spend()
            async for chunk in self._audio(stall_s):
                yield chunk
            complete = True
        finally:
            if complete:
                self.owner = None
            elif self.owner is token:
                await self.abandon()

    async def abandon(self) -> None:
        """Stop the current sentence: Clear now, drain up to Cleared before the next one."""
        self.owner, self.needs_clear = None, True
        if self.dead:
            return
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self._conn.send_clear()
        except (ConnectionClosed, TimeoutError):
            self.dead = True

    async def drain(self, wait_s: float) -> bool:
        """Discard everything up to `Cleared`; False if it did not come in time."""
        try:
            async with asyncio.timeout(wait_s):
                while (item := await self.inbox.get()) is not _DEAD:
                    if _kind(item) == "Cleared":  # parsed as SpeakV1Flushed: same shape
                        self.needs_clear = False
                        return True
        except TimeoutError:
            pass
        return False

    async def close(self, polite: bool) -> None:
        if polite and not self.dead:
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self._conn.send_close()
        self._reader.cancel()
        await asyncio.wait([self._reader], timeout=SEND_TIMEOUT_S)
        with contextlib.suppress(*_NETWORK_ERRORS):  # TimeoutError: a peer ignoring our close
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._stack.aclose()

    async def _audio(self, stall_s: float) -> AsyncGenerator[bytes, None]:
        while True:
            try:
                async with asyncio.timeout(stall_s):
                    item = await self.inbox.get()
            except TimeoutError:
                raise _SocketFailed(f"speak socket stalled for {stall_s:.0f} s") from None
            if item is _DEAD:
                raise _SocketFailed(self.problem)
            if isinstance(item, bytes):
                yield item
            elif _kind(item) == "Flushed":
                return
            elif _kind(item) == "Warning":
                description = str(getattr(item, "description", ""))
                if _refuses_flush(item):
                    self.flushes.exhaust()
                    raise _FlushLimited(f"Deepgram refused a Flush ({description})")
                log.warning("Deepgram TTS warning: %s", description)

    async def _send(self, sending: Any) -> None:
        try:
            await sending
        except ConnectionClosed as exc:
            self.dead = True
            raise _SocketFailed(close_description(exc)) from None

    async def _read(self) -> None:
        try:
            async for message in self._conn:
                await self.inbox.put(message)
        except ConnectionClosed as exc:
            self.problem = close_description(exc)
        finally:
            self.dead = True
            self.inbox.put_final(_DEAD)


def _refuses_flush(warning: object) -> bool:
    """Deepgram publishes no code for the Flush-limit Warning, only its wording ("cannot process
    any more flush messages"): any Warning that names Flush is taken as one."""
    said = f"{getattr(warning, 'code', '')} {getattr(warning, 'description', '')}"
    return "flush" in said.lower()


def _kind(message: object) -> str | None:
    if isinstance(message, dict):
        return message.get("type")
    return getattr(message, "type", None)
