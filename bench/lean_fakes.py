"""The cheap side of bench/fleet.py's load: the caller turns every lean caller speaks, and a fake
Deepgram whose per-frame work is a few operations.

Why: on a 2-core machine the load generator shares the cores with the workers it measures. At 50
calls bench/scaling.py's load side (fakes and callers) cost about as much CPU as the server
(~27 against ~24 CPU-s). In the fakes' process nearly all of it was the listen sockets: every
20 ms of every call the worker sends Deepgram a frame, and the fake took each through aiohttp's
WebSocket reader, a task wake-up and an idle timer, then decided whether it was speech with a
numpy mu-law decode and RMS (`frame_rms`: 40 % of the fakes' CPU on its own).

`LeanDeepgram` serves the same wire protocol (PROTOCOLS.md sections 2 and 3: /v1/listen and
/v1/speak WebSockets; the worker's real deepgram-sdk connects to it as to the service) from a
plain asyncio Protocol: the upgrade, then each frame handled in the callback that read it, with
no task per message. What is said and when stays the project's fake (tests/fakes/
deepgram_fake.py), run on these sockets:
- listen: FakeDeepgram's Nova recognizer (tests/fakes/deepgram_recognizer.py), fed every audio
  frame, so its realistic interims, 300 ms endpointing on the socket's audio timeline and final
  are unchanged; only its speech test is a table lookup. The table is made once from the turns
  below with the fake's own rule (`frame_rms > speech_rms`), and the lean callers send only
  these turns and digital silence, so every frame the worker forwards whole gets the answer the
  full fake would compute. A frame not in the table (the worker may join or cut frames) is
  measured the slow way and counted (`misses`).
- speak: FakeDeepgram's own speak session (first byte 80 ms after a Flush, 60 ms of audio per
  character in 480-byte chunks at 10x real time, Flushed, Cleared, the flush limit).
REST speak (the worker's fallback when its socket fails) is not served: a worker falling back
would show as failed calls.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import websocket_frames as ws
from common import ROOT  # noqa: F401 - sets sys.path for tests.fakes and tests.speech

from tests.fakes.deepgram_fake import FakeDeepgram, _SpeakSession
from tests.fakes.deepgram_recognizer import FRAME_BYTES, Recognizer, frame_rms, silence
from tests.speech import finished_turn, voiced_spans

TALK_S = 1.2  # each caller turn, as bench/pipeline.py's
VARIANTS = 16  # distinct turns (sentence ends in the recordings); caller i, turn t speaks one
TAIL_MS = 40  # silence after the last voiced frame, as pipeline._said adds


@functools.cache
def turn(variant: int) -> tuple[bytes, float]:
    """A caller turn of real speech ending at a sentence end (tests.speech.finished_turn), with
    40 ms of silence after it, and where its last voiced frame ends (s from its start)."""
    talk = finished_turn(variant % VARIANTS, TALK_S)
    return talk + silence(TAIL_MS), voiced_spans(talk)[-1][1]


def frames(mulaw: bytes) -> list[bytes]:
    """Whole 20 ms frames, the last padded with silence (as Twilio sends them)."""
    padded = mulaw + silence(20)[: (-len(mulaw)) % FRAME_BYTES]
    return [padded[i : i + FRAME_BYTES] for i in range(0, len(padded), FRAME_BYTES)]


@functools.cache
def speech_table(speech_rms: float) -> dict[bytes, bool]:
    """Every frame a lean caller can send -> is it speech, by the fake recognizer's own rule."""
    table = {silence(20): False}
    for variant in range(VARIANTS):
        for frame in frames(turn(variant)[0]):
            table[frame] = frame_rms(frame) > speech_rms
    return table


class _Records(FakeDeepgram):
    """The project's fake as the keeper of the script, the options and the records; its own
    aiohttp server is never started."""

    misses = 0  # frames not in the table, measured the slow way


class _TableRecognizer(Recognizer):
    """FakeDeepgram's Nova recognizer with its speech test looked up instead of computed."""

    def is_speech(self, frame: bytes) -> bool:
        known = speech_table(self.fake.opts.speech_rms).get(frame)
        if known is None:
            assert isinstance(self.fake, _Records)
            self.fake.misses += 1
            return frame_rms(frame) > self.fake.opts.speech_rms
        return known


class LeanDeepgram:
    """A loopback Deepgram on a plain asyncio server (see the module docstring)."""

    def __init__(self, *, script: list[str] | None = None, **options: Any) -> None:
        self.records = _Records(script=script, **options)
        speech_table(self.records.opts.speech_rms)  # built before the calls, not during them
        self._server: asyncio.Server | None = None
        self._sockets: set[_Socket] = set()
        self.refused = 0  # requests this fake does not serve (REST speak, other paths)

    @property
    def api_key(self) -> str:
        return self.records.api_key

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    @property
    def misses(self) -> int:
        return self.records.misses

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Socket(self), "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for socket in list(self._sockets):
            socket.end(1001)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class _Socket(asyncio.Protocol):
    """One connection: the HTTP upgrade, then RFC 6455 frames (a client's are masked)."""

    def __init__(self, owner: LeanDeepgram) -> None:
        self._owner = owner
        self._fake = owner.records
        self._buffer = bytearray()
        self._upgraded = False
        self._transport: asyncio.Transport | None = None
        self._listen: _TableRecognizer | None = None
        self._speak: _SpeakSession | None = None
        self._speak_inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._speaking: asyncio.Task[None] | None = None

    # ---- the connection -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._owner._sockets.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._sockets.discard(self)
        if self._fake.listen_open and self._listen is not None:
            self._fake.listen_open -= 1
        if self._speaking is not None:
            self._speaking.cancel()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded and not self._upgrade():
            return
        self._frames()

    def _upgrade(self) -> bool:
        head = ws.take_head(self._buffer)
        if head is None:
            return False
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        if headers.get("authorization") != f"Token {self._fake.api_key}":
            return self._refuse("401 Unauthorized")
        path, query = urlsplit(target).path, dict(parse_qsl(urlsplit(target).query))
        if path not in ("/v1/listen", "/v1/speak") or "sec-websocket-key" not in headers:
            self._owner.refused += 1
            return self._refuse("404 Not Found")
        self._accept(headers["sec-websocket-key"])
        self._open_listen(query) if path == "/v1/listen" else self._open_speak(query)
        return True

    def _accept(self, key: str) -> None:
        accept = ws.accept(key)
        self._write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self._upgraded = True

    def _refuse(self, status: str) -> bool:
        self._write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .encode())
        assert self._transport is not None
        self._transport.close()
        return False

    # ---- frames ---------------------------------------------------------------------------

    def _frames(self) -> None:
        for opcode, payload in ws.take_frames(self._buffer):
            self._on_frame(opcode, payload)

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == ws.BINARY and self._listen is not None:
            self._audio(payload)
        elif opcode == ws.TEXT:
            self._text(json.loads(payload))
        elif opcode == ws.PING:  # the SDK's websockets client pings every 20 s
            self.send(ws.PONG, payload)
        elif opcode == ws.CLOSE:
            self.end(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000)

    def send(self, opcode: int, payload: bytes) -> None:
        self._write(ws.encode(opcode, payload, masked=False))

    def end(self, code: int, reason: bytes = b"") -> None:
        self.send(ws.CLOSE, code.to_bytes(2, "big") + reason)
        assert self._transport is not None
        self._transport.close()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    # ---- listen: FakeDeepgram's recognizer, fed in the read callback ----------------------

    def _open_listen(self, query: dict[str, str]) -> None:
        fake = self._fake
        fake.listen_queries.append(query)
        fake.listen_audio.append(0)
        fake.listen_open += 1
        self._listen = _TableRecognizer(fake, query, len(fake.listen_audio) - 1)
        fake.recognizers.append(self._listen)

    def _audio(self, data: bytes) -> None:
        assert self._listen is not None
        self._fake.audio_bytes += len(data)
        self._fake.listen_audio[self._listen.connection] += len(data)
        for message in self._listen.feed(data):
            self._say(message)

    def _text(self, message: dict[str, Any]) -> None:
        if self._speak_inbox is not None:
            self._speak_inbox.put_nowait(message)
            return
        assert self._listen is not None
        self._fake.controls.append((str(message.get("type")), time.monotonic()))
        replies, close = self._listen.control(message)
        for reply in replies:
            self._say(reply)
        if close:
            self.end(1000)

    def _say(self, message: dict[str, Any]) -> None:
        """Send a listen message and keep FakeDeepgram's records of it."""
        self.send(ws.TEXT, json.dumps(message).encode())
        now, fake = time.monotonic(), self._fake
        if message["type"] == "SpeechStarted":
            fake.speech_started_at.append(now)
        elif message["type"] == "Results":
            fake.results_sent.append(message)
            if message["is_final"]:
                fake.finals_sent.append((message["channel"]["alternatives"][0]["transcript"], now))

    # ---- speak: FakeDeepgram's own session, on this socket ----------------------------------

    def _open_speak(self, query: dict[str, str]) -> None:
        self._fake.speak_queries.append(query)
        self._speak = _SpeakSession(self._fake, _AsAiohttp(self))
        self._speak_inbox = asyncio.Queue()
        self.send(ws.TEXT, json.dumps({"type": "Metadata", "request_id": "lean",
                                   "model_name": query.get("model", ""),
                                   "model_version": "2024-01-01",
                                   "model_uuid": "lean"}).encode())
        self._speaking = asyncio.create_task(self._speak_in_order(), name="lean-deepgram-speak")

    async def _speak_in_order(self) -> None:
        assert self._speak is not None and self._speak_inbox is not None
        try:
            while not await self._speak.on_text(await self._speak_inbox.get()):
                pass
        finally:
            await self._speak.stop()


class _AsAiohttp:
    """What FakeDeepgram's speak session calls on its socket, on a _Socket."""

    def __init__(self, socket: _Socket) -> None:
        self._socket = socket

    async def send_str(self, text: str) -> None:
        self._socket.send(ws.TEXT, text.encode())

    async def send_bytes(self, data: bytes) -> None:
        self._socket.send(ws.BINARY, data)

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        self._socket.end(code, message)
