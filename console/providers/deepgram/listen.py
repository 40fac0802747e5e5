"""What Deepgram's two live recognizers share: one `stream()` over a WebSocket that survives drops.

`DeepgramSTT` (Nova, `/v1/listen`) and `DeepgramFluxSTT` (Flux, `/v2/listen`) differ only in how
they connect, what their messages mean, and how they ask for a final; both subclass `ListenSTT`.

One `stream()` call owns three kinds of task: an audio pump (caller audio -> queue, for the whole
stream) and, per WebSocket, a sender, a reader and a keep-alive timer. Audio that Deepgram has not
yet settled (finalised, or ended a turn over) stays in a replay buffer; when the socket drops, a
new one is opened and that audio is sent again first, so no words are lost. Raises ProviderError
for a refused key, a rejected request, or when `reconnect_attempts` reconnects in a row failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from console.providers.base import (
    AudioQueueReader,
    ProviderError,
    ProviderObserver,
    TranscriptEvent,
)
from console.providers.deepgram.client import (
    SAMPLE_RATE,
    close_description,
    handshake_problem,
    make_client,
)
from console.providers.queues import Inbox, NewestAudio

log = logging.getLogger(__name__)

REPLAY_PIECE = 3200  # replay in 400 ms messages: few frames, well inside Deepgram's limits
BATCH_LIMIT_BYTES = REPLAY_PIECE  # frames that piled up go out together, up to this much
REPLAY_LIMIT_S = 30  # keep at most 30 s (240 kB) of unsettled audio for replay
STABLE_S = 10.0  # a socket that lived this long resets the reconnect budget
TASK_STOP_S = 1.0  # how long teardown waits for cancelled tasks
# Deepgram sends a few messages per second of audio (interims, SpeechStarted, UtteranceEnd), and
# the call reads each as it comes. 256 is minutes of results: a consumer that far behind is
# stuck, and the reader stops reading the socket (backpressure) instead of holding more.
INBOX_LIMIT = 256
# Audio from a source other than the session's own queue waits here for the sender: 10 s = 500
# chunks of 20 ms, as much as the session's queue holds (ear.py says why). Past that the socket
# has stopped taking audio; the oldest is dropped and counted, the newest kept.
AUDIO_LIMIT = 500
_NETWORK_ERRORS = (ConnectionClosed, OSError, TimeoutError, InvalidHandshake)

Settled = Callable[[float], None]  # "audio up to this socket time (s) is settled"


class Translator(Protocol):
    """Reads one recognizer's wire messages for one stream (it may keep state between them)."""

    def event(self, message: Any, at: float) -> TranscriptEvent | None:
        """The event `message` means, or None. Calls its `Settled` once audio needs no replay;
        raises `Dropped` when the message says the socket is finished (a fatal error)."""
        ...


class Dropped(Exception):
    """The socket closed (or was declared dead) before the stream was finished."""


class ListenSTT:
    """The part of a Deepgram live recognizer that does not depend on the model. One instance may
    serve many `stream()` calls in turn. Subclasses say how to connect and what messages mean."""

    tier = "cloud"
    provider = "deepgram-stt"  # the name the observer hears, and the prefix of task names
    last_message: str | None = None  # after CloseStream, the message type that ends the stream
    keepalive_audio: bytes | None = None  # sent when idle instead of a KeepAlive message

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        observer: ProviderObserver | None = None,
        keepalive_s: float = 4.0,
        reconnect_attempts: int = 5,
        backoff_s: float = 0.1,
        backoff_cap_s: float = 2.0,
        close_timeout_s: float = 3.0,
        client: AsyncDeepgramClient | None = None,
    ) -> None:
        """`keepalive_s`: idle time before a keep-alive (Deepgram closes after 10 s without audio).
        Reconnect delays are backoff_s, 2x, 4x ... capped at backoff_cap_s (0.1 .. 1.6 s: 3.1 s
        worst case for 5 attempts). `close_timeout_s` bounds the drain after CloseStream."""
        self._api_key = api_key
        self._base_url = base_url
        self.observer = observer
        self.keepalive_s = keepalive_s
        self.reconnect_attempts = reconnect_attempts
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.close_timeout_s = close_timeout_s
        # One client per process is best (the registry passes it): building one costs ~15 ms of
        # blocking work (an SSL context), too much to pay on the event loop for every call.
        self._client: AsyncDeepgramClient | None = client
        self._session: _ListenSession | None = None  # the latest stream(), for finalize()

    def stream(self, audio: AsyncIterator[bytes]) -> AsyncIterator[TranscriptEvent]:
        """Yield transcript events for `audio` until it ends and the last results are drained.
        Cancelling (or closing) the iterator closes the socket."""
        self._session = _ListenSession(self, audio)
        return self._session.events()

    def finalize(self) -> None:
        """Ask for the final of the audio sent so far now (see `request_final`), from a task of
        its own: the caller went quiet and the call is waiting to know what was said."""
        if self._session is not None:
            self._session.finalize()

    def client(self) -> AsyncDeepgramClient:
        if self._client is None:
            self._client = make_client(self._api_key, self._base_url)
        return self._client

    def backoff(self, failures: int) -> float:
        return min(self.backoff_s * 2.0 ** (failures - 1), self.backoff_cap_s)

    # --- what each model does its own way ------------------------------------------------------
    def connect(self) -> AbstractAsyncContextManager[Any]:
        """Open one socket (the SDK's `listen.vN.connect(...)`)."""
        raise NotImplementedError

    def translator(self, settled: Settled) -> Translator:
        raise NotImplementedError

    async def request_final(self, conn: Any) -> None:
        """Send the message that makes Deepgram say now what it heard."""
        raise NotImplementedError


@dataclass(frozen=True)
class _Closed:
    problem: str
    clean: bool  # a 1000 close


class _CloseSent:
    """Wakes the reader loop so it starts the drain deadline."""


_CLOSE_SENT = _CloseSent()
# What the reader loop takes from a socket's inbox: (arrival time, a message of the SDK's), the
# socket's close, the sender's failure, or the wake-up after CloseStream.
_InboxItem = tuple[float, Any] | _Closed | BaseException | _CloseSent


class _ReplayBuffer:
    """Audio Deepgram has not settled yet, positioned on the current socket's timeline
    (Deepgram's times count seconds from the socket's first byte)."""

    def __init__(self, limit_bytes: int) -> None:
        self._data = bytearray()
        self._origin = 0  # socket-timeline byte offset of _data[0]
        self._limit = limit_bytes

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        self._trim(len(self._data) - self._limit)

    def settled(self, until_s: float) -> None:
        self._trim(int(until_s * SAMPLE_RATE) - self._origin)

    def restart(self) -> list[bytes]:
        """Pieces to send first on a new socket, whose timeline starts with them."""
        self._origin = 0
        data = bytes(self._data)
        return [data[i : i + REPLAY_PIECE] for i in range(0, len(data), REPLAY_PIECE)]

    def _trim(self, count: int) -> None:
        count = min(count, len(self._data))
        if count > 0:
            del self._data[:count]
            self._origin += count


class _Link:
    """One WebSocket: reader, sender and keep-alive tasks feeding one inbox."""

    def __init__(self, conn: Any, session: _ListenSession, stt: ListenSTT) -> None:
        self.conn = conn
        self.inbox: Inbox[_InboxItem] = Inbox(INBOX_LIMIT)
        self.close_sent_at: float | None = None
        self.last_send = time.monotonic()
        self._stt = stt
        self._session = session
        name = stt.provider
        sender = asyncio.create_task(session.send(self), name=f"{name}-send")
        sender.add_done_callback(self._sender_done)
        self._tasks = [
            asyncio.create_task(self._read(), name=f"{name}-recv"),
            sender,
            asyncio.create_task(self._keepalive(), name=f"{name}-keepalive"),
        ]

    async def send_audio(self, chunk: bytes) -> None:
        await self.conn.send_media(chunk)
        self.last_send = time.monotonic()

    def finalize(self) -> None:
        """Ask for the final from a task of its own (the sender may be waiting for audio)."""
        task = asyncio.create_task(self._finalize(), name=f"{self._stt.provider}-finalize")
        self._tasks.append(task)

    async def _finalize(self) -> None:
        with contextlib.suppress(ConnectionClosed):  # the reader reports the close
            await self._stt.request_final(self.conn)

    async def close_stream(self) -> None:
        await self.conn.send_close_stream()
        self.close_sent_at = time.monotonic()
        self.inbox.put_final(_CLOSE_SENT)

    async def next(self, drain_s: float) -> _InboxItem | None:
        """The next inbox item; None when the drain after CloseStream has run out of time."""
        if self.close_sent_at is None:
            return await self.inbox.get()
        try:
            async with asyncio.timeout(max(0.0, self.close_sent_at + drain_s - time.monotonic())):
                return await self.inbox.get()
        except TimeoutError:
            return None

    async def stop(self) -> None:
        await _cancel(self._tasks)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.conn.recv()
            except ConnectionClosed as exc:
                clean = isinstance(exc, ConnectionClosedOK)
                self.inbox.put_final(_Closed(close_description(exc), clean))
                return
            except ValueError:  # a text frame that is not JSON: skip it, keep the stream
                log.warning("Deepgram STT sent a frame that is not JSON; ignored")
                continue
            await self.inbox.put((time.monotonic(), message))  # stamped on arrival

    async def _keepalive(self) -> None:
        """The SDK sends no keep-alive; Deepgram closes (NET-0001) after 10 s without audio."""
        keepalive_s = self._stt.keepalive_s
        while self.close_sent_at is None:
            await asyncio.sleep(max(0.0, self.last_send + keepalive_s - time.monotonic()))
            if self.close_sent_at is None and time.monotonic() - self.last_send >= keepalive_s:
                try:
                    await self._session.keep_alive(self)
                except ConnectionClosed:
                    return  # the reader reports the close
                self.last_send = time.monotonic()

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (failure := task.exception()) is not None:
            self.inbox.put_final(failure)


class _ListenSession:
    """One `stream()` call: the audio pump, the replay buffer and one socket at a time."""

    def __init__(self, stt: ListenSTT, audio: AsyncIterator[bytes]) -> None:
        self._stt = stt
        self._audio = audio
        # The session's own queue is read directly; any other source goes through a pump task
        # into one (a task hop per frame that the session's audio does not need).
        self._queue = NewestAudio(AUDIO_LIMIT, self._audio_dropped)
        self._reader = (
            audio if isinstance(audio, AudioQueueReader) else AudioQueueReader(self._queue)
        )
        self._replay = _ReplayBuffer(REPLAY_LIMIT_S * SAMPLE_RATE)
        self._translator = stt.translator(self._settled)
        self._audio_ended = False
        self._bytes_sent = 0
        self._progress = False  # Deepgram settled some audio on the current socket
        self._connected_at: float | None = None
        self._link: _Link | None = None

    def finalize(self) -> None:
        if self._link is not None:
            self._link.finalize()

    async def events(self) -> AsyncIterator[TranscriptEvent]:
        pumps = (
            []
            if self._audio is self._reader
            else [asyncio.create_task(self._pump(), name=f"{self._stt.provider}-audio")]
        )
        try:
            async for event in self._connections():
                yield event
            for pump in pumps:
                failed = pump.exception() if pump.done() and not pump.cancelled() else None
                if failed is not None:
                    raise failed  # the audio source failed
        finally:
            await _cancel(pumps)
            if self._stt.observer is not None:
                self._stt.observer.usage(stt_seconds=self._bytes_sent / SAMPLE_RATE)

    async def send(self, link: _Link) -> None:
        """Replay unsettled audio, then forward live audio; CloseStream when it ends."""
        try:
            for piece in self._replay.restart():
                await self._send(link, piece)
            while not self._audio_ended:
                chunk = await self._reader.read_batch(BATCH_LIMIT_BYTES)
                if chunk is None:
                    self._audio_ended = True
                    break
                if not chunk:
                    continue  # an empty binary message would close Deepgram's stream
                self._replay.add(chunk)  # before sending: a failed send is replayed
                await self._send(link, chunk)
            await link.close_stream()
        except ConnectionClosed:
            return  # the reader reports the close

    async def keep_alive(self, link: _Link) -> None:
        """A KeepAlive message, or (a model without one) a little silence, which is audio: it
        goes on the socket's timeline, so the replay buffer holds it too."""
        silence = self._stt.keepalive_audio
        if silence is None:
            await link.conn.send_keep_alive()
            return
        self._replay.add(silence)
        await self._send(link, silence)

    async def _send(self, link: _Link, chunk: bytes) -> None:
        await link.send_audio(chunk)
        self._bytes_sent += len(chunk)

    def _settled(self, until_s: float) -> None:
        self._progress = True
        self._replay.settled(until_s)

    def _audio_dropped(self, chunks: int) -> None:
        problem = f"the socket stopped taking audio; dropped the oldest {chunks} chunks"
        log.warning("Deepgram STT %s", problem)
        if self._stt.observer is not None:
            self._stt.observer.degraded(self._stt.provider, problem, "newest audio kept")

    async def _pump(self) -> None:
        try:
            async for chunk in self._audio:
                if chunk:
                    self._queue.put_nowait(chunk)
        finally:
            self._queue.put_nowait(None)
            self._queue.report()

    async def _connections(self) -> AsyncIterator[TranscriptEvent]:
        failures, problem = 0, ""
        while True:
            try:
                async for event in self._one_connection(failures, problem):
                    yield event
                return
            except ApiError as exc:
                problem = handshake_problem(exc)
            except (*_NETWORK_ERRORS, Dropped) as exc:
                problem = _describe(exc)
            failures = 1 if self._was_healthy() else failures + 1
            await self._before_retry(failures, problem)

    async def _before_retry(self, failures: int, problem: str) -> None:
        attempts = self._stt.reconnect_attempts
        if failures > attempts:
            raise ProviderError(
                f"Deepgram speech-to-text lost its connection; {attempts} reconnects failed"
                f" (last: {problem})"
            )
        delay = self._stt.backoff(failures)
        log.warning(
            "Deepgram STT %s; reconnect %d/%d in %.1f s", problem, failures, attempts, delay
        )
        await asyncio.sleep(delay)

    def _was_healthy(self) -> bool:
        lived = self._connected_at is not None and time.monotonic() - self._connected_at >= STABLE_S
        return self._progress or lived

    async def _one_connection(self, failures: int, problem: str) -> AsyncIterator[TranscriptEvent]:
        self._progress, self._connected_at = False, None
        async with self._stt.connect() as conn:
            self._connected_at = time.monotonic()
            if failures and self._stt.observer is not None:
                self._stt.observer.degraded(self._stt.provider, problem, "reconnected")
            link = self._link = _Link(conn, self, self._stt)
            try:
                async for event in self._receive(link):
                    yield event
            finally:
                self._link = None
                await link.stop()

    async def _receive(self, link: _Link) -> AsyncIterator[TranscriptEvent]:
        while True:
            item = await link.next(self._stt.close_timeout_s)
            if item is None:
                log.warning("Deepgram STT did not close after CloseStream; finishing anyway")
                return
            if isinstance(item, _Closed):
                if link.close_sent_at is not None and item.clean:
                    return
                raise Dropped(item.problem)
            if isinstance(item, BaseException):
                raise item  # the sender failed for a reason other than the socket
            if isinstance(item, _CloseSent):
                continue
            at, message = item
            if link.close_sent_at is not None and self._is_last(message):
                return
            event = self._translator.event(message, at)
            if event is not None:
                yield event

    def _is_last(self, message: Any) -> bool:
        """After CloseStream, e.g. Nova's Metadata ends the stream before the socket closes."""
        last = self._stt.last_message
        return last is not None and kind_of(message) == last


def kind_of(message: Any) -> str | None:
    """Dispatch on the wire `type`: the SDK's unchecked models may not match their class."""
    if isinstance(message, dict):
        return message.get("type")
    return getattr(message, "type", None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        return close_description(exc)
    if isinstance(exc, Dropped):
        return str(exc)
    return f"cannot connect ({type(exc).__name__})"


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel and wait (bounded); never swallows the cancellation of the caller itself."""
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=TASK_STOP_S)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: errors were already reported through the inbox
