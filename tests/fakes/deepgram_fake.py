"""A loopback Deepgram: live STT (Nova `/v1/listen`, Flux `/v2/listen`), Aura TTS over WebSocket
and REST (`/v1/speak`).

It speaks the wire protocol of PROTOCOLS.md sections 2 and 3, so the real deepgram-sdk is pointed
at `fake.base_url` and never mocked:

    async with FakeDeepgram(script=["I'd like to book an appointment"]) as fake:
        stt = DeepgramSTT(fake.api_key, fake.base_url)
        ...
        await fake.wait_for(lambda: fake.finals_sent)

Listen "recognises" speech by energy, on the audio timeline (bytes received / 8000, like the real
service, so audio may be sent faster than real time): a 20 ms frame whose RMS exceeds
`opts.speech_rms` is speech. By default it answers with the live service's cadence, not a kinder
one: `SpeechStarted` 100-200 ms after the onset, a first interim 0.6-1.0 s after it with 0-1
words, then an interim every 0.8-1.0 s with a growing prefix of the scripted transcript, the final
(`speech_final`) once `endpointing` ms of silence have passed, and `UtteranceEnd`
`utterance_end_ms` after the last word. A script entry of "" is noise: SpeechStarted, empty
transcripts, no UtteranceEnd. deepgram_recognizer.py and deepgram_cadence.py say where each rule and
number comes from (Deepgram's documentation, PROTOCOLS.md section 2, or observation).
`cadence="eager"` restores the old quick cadence for tests whose subject is not turn timing.
`/v2/listen` answers with Flux's turn events from the same script (deepgram_flux.py says how and
where each number comes from); `fake.turn_infos` records every TurnInfo it sent.
`transcribe=fn(connection, start_s, end_s) -> str` replaces the script: each utterance gets the
words `fn` places between the end of the socket's last final and now (on its audio timeline), so
text follows the audio however the server cuts it (deepgram_positions.py builds such an `fn`).
Speak streams deterministic noise unique to each text (`fake.audio_for(text)`), so a test can prove
which sentence audio came from. The speak socket behaves as PROTOCOLS.md section 3.2 and Deepgram's
docs say (`_SpeakSession` lists the source of each behaviour), including the limit of 20 Flushes in
60 s: a Flush past it gets a Warning and no audio.

Every knob is a field of `FakeDeepgramOptions` (`fake.opts`, read live). Every message of
interest is recorded with `time.monotonic()`, which is system-wide on Linux, so benches in another
process can compare timestamps too; `fake.recognizers[n].log` has every listen message of socket n
with its place on that socket's audio timeline.

Listen honours `redact` as Deepgram's redaction docs (developers.deepgram.com/docs/redaction)
describe it: on `/v1/listen`, `redact=pci` hides card numbers and `redact=ssn` social security
numbers in every Results transcript (the label, "[REDACTED]", is the one Deepgram's examples show;
Deepgram says the label depends on the model); on `/v2/listen` only number redaction exists, and
an entity option (`pci`, `ssn`, ...) is refused with 400 (Deepgram's changelog, 2026-06-24).
`fake.listen_redact` records each socket's `redact` values (the query repeats the key).

Both sockets decline permessage-deflate (the SDK's websockets client offers it). Whether Deepgram
accepts it is not documented; compressing noise took ~18 % of the fakes' core at 100 calls in
bench/scaling.py, and a busy fake stamps its timestamps late. The messages are the same either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from tests.fakes.deepgram_cadence import CADENCES, Cadence
from tests.fakes.deepgram_flux import FluxRecognizer, FluxTiming, Thresholds
from tests.fakes.deepgram_recognizer import (
    SAMPLE_RATE,
    ListenTimeline,
    Recognizer,
    Transcriber,
    frame_rms,
    mulaw_decode,
    mulaw_encode,
    silence,
    tone,
)
from tests.fakes.loopback import LoopbackServer

DEFAULT_KEY = "test-deepgram-key"
FALLBACK_TRANSCRIPT = "hello"

__all__ = [
    "FakeDeepgram",
    "FakeDeepgramOptions",
    "TtsRequest",
    "frame_rms",
    "mulaw_decode",
    "mulaw_encode",
    "silence",
    "tone",
    "tts_audio",
]


@functools.lru_cache(maxsize=256)
def tts_audio(text: str, ms_per_char: float) -> bytes:
    """Deterministic, non-silent noise unique to `text`: len(text) * ms_per_char long. Cached:
    benches speak the same sentences hundreds of times, and the fake's CPU delays the timestamps
    it takes."""
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    count = int(len(text) * ms_per_char * SAMPLE_RATE / 1000)
    return mulaw_encode(rng.integers(-4000, 4000, size=count))


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- configuration and records ------------------------------------------------------------------


@dataclass
class FakeDeepgramOptions:
    """Knobs, read on every message, so a test may change them while a socket is open."""

    speech_rms: float = 500.0
    """A 20 ms frame whose RMS (16-bit scale) exceeds this is speech; mu-law silence is 0."""
    cadence: str = "realistic"
    """"realistic" (the live service: see deepgram_cadence.py for the sources of each number) or
    "eager" (SpeechStarted on the first speech frame, an interim with one more word every 200 ms
    of speech: the fake as it was, for tests whose subject is not turn-taking timing)."""
    speech_started_delay_s: tuple[float, float] | None = None
    """Overrides the cadence's onset -> SpeechStarted range (s)."""
    first_interim_delay_s: tuple[float, float] | None = None
    """Overrides the cadence's onset -> first interim range (s)."""
    interim_interval_s: tuple[float, float] | None = None
    """Overrides the cadence's interim -> interim range (s)."""
    first_interim_words: tuple[int, int] | None = None
    """Overrides how many words the first interim reveals."""
    words_per_interim: tuple[int, int] | None = None
    """Overrides how many more words each later interim reveals."""
    interim_clock: str | None = None
    """Overrides the cadence's interim clock ("audio" or "speech")."""
    seed: int = 0
    """Seeds every listen socket's generator (with the socket's index), so runs repeat exactly."""
    split_finals: bool = False
    """Deliver each transcript as two finals: the first half (is_final, no speech_final) as soon
    as the interims have shown it, the rest with speech_final at the endpoint."""
    drop_after_speech_frames: int | None = None
    """Close a listen socket with 1011 NET-0000 once it has received this many speech frames."""
    max_drops: int = 1
    """How many listen sockets `drop_after_speech_frames` may drop in all (then it stops)."""
    drop_error_code: str | None = None
    """Flux: send a fatal `Error` with this code before such a drop closes the socket."""
    flux: FluxTiming = field(default_factory=FluxTiming)
    """Flux's timing (`/v2/listen`); see deepgram_flux.py for the source of each default."""
    idle_timeout_s: float | None = 10.0
    """Close listen with 1011 NET-0001 after this long with neither audio nor KeepAlive (Deepgram:
    10 s). None: never."""
    first_byte_ms: float = 80.0
    """TTS (WS and REST): delay between a Speak/POST and its first audio byte."""
    ms_per_char: float = 60.0
    """TTS audio length per character of text."""
    chunk_bytes: int = 480
    """TTS audio is sent in chunks of this many bytes (480 = 60 ms)."""
    speedup: float = 10.0
    """TTS audio is streamed this many times faster than real time."""
    speak_ws_status: int | None = None
    """Refuse the speak WebSocket handshake with this HTTP status (e.g. 500)."""
    speak_ws_drop_after_bytes: int | None = None
    """Close every speak socket with 1011 once it has sent this many audio bytes."""
    rest_status: int | None = None
    """Fail REST `POST /v1/speak` with this status and Deepgram's JSON error body (400, 500...)."""
    flush_limit: int | None = 20
    """Flushes a speak socket may send in any `flush_window_s` (Deepgram: 20 in 60 s); the next
    ones get a Warning and are not processed. None: no limit."""
    flush_window_s: float = 60.0
    """The window of `flush_limit`, in seconds."""

    def timing(self) -> Cadence:
        """The cadence preset with every knob that is set laid over it."""
        if self.cadence not in CADENCES:
            raise ValueError(f"unknown cadence {self.cadence!r}; choose one of {list(CADENCES)}")
        knobs = {f.name: getattr(self, f.name) for f in fields(Cadence)}
        return replace(CADENCES[self.cadence], **{k: v for k, v in knobs.items() if v is not None})


@dataclass
class TtsRequest:
    text: str
    transport: str  # "ws" | "rest"
    received_at: float  # monotonic: Speak frame / POST received
    first_byte_at: float | None = None  # monotonic: first audio byte sent for it
    bytes_sent: int = 0
    flushed: bool = False  # WS: all its audio went out and Flushed followed
    cleared: bool = False  # WS: a Clear dropped it before it was complete


# --- the server ---------------------------------------------------------------------------------


class FakeDeepgram(LoopbackServer):
    name = "FakeDeepgram"
    handler_cancellation = False  # WebSocket handlers close their sockets themselves

    def __init__(
        self, api_key: str = DEFAULT_KEY, *, script: list[str] | None = None,
        transcribe: Transcriber | None = None, **options: Any,
    ) -> None:  # fmt: skip
        super().__init__()
        self.api_key = api_key
        self.script: list[str] = list(script or [])
        """Transcripts handed out in order, one per utterance; "hello" once it runs out."""
        self.transcribe = transcribe
        """When set, utterances take their words from it by audio position, not from `script`."""
        self.opts = FakeDeepgramOptions(**options)
        self.opts.timing()  # an unknown cadence fails here, not inside a socket handler
        # listen records
        self.listen_queries: list[dict[str, str]] = []  # one per accepted connection
        self.listen_redact: list[list[str]] = []  # each connection's `redact` values
        self._redact_on: dict[web.WebSocketResponse, list[str]] = {}
        self.listen_open = 0
        self.audio_bytes = 0
        self.listen_audio: list[int] = []  # audio bytes received, per connection
        self.controls: list[tuple[str, float]] = []  # KeepAlive / Finalize / CloseStream
        self.speech_started_at: list[float] = []
        self.finals_sent: list[tuple[str, float]] = []
        self.results_sent: list[dict[str, Any]] = []  # every Results, interim and final
        self.recognizers: list[ListenTimeline] = []  # one per listen socket (v1 or v2)
        self.turn_infos: list[dict[str, Any]] = []  # every Flux TurnInfo sent, in order
        self.eager_ends_sent: list[tuple[str, float]] = []  # Flux: (transcript, monotonic)
        self.drops = 0
        # speak records
        self.speak_queries: list[dict[str, str]] = []  # one per accepted WS connection
        self.speak_open = 0
        self.speak_messages: list[tuple[str, float]] = []  # Speak / Flush / Clear / Close
        self.speak_warnings: list[tuple[dict[str, Any], float]] = []  # every Warning sent
        self.rest_queries: list[dict[str, str]] = []
        self.tts_requests: list[TtsRequest] = []
        self._sockets: set[web.WebSocketResponse] = set()

    # lifecycle -----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/listen", self._listen)
        app.router.add_get("/v2/listen", self._flux_listen)
        app.router.add_get("/v1/speak", self._speak_ws)
        app.router.add_post("/v1/speak", self._speak_rest)

    async def before_stop(self) -> None:
        await self.kill_sockets(code=1001)

    # queries and test helpers -----------------------------------------------------------------

    @property
    def listen_connections(self) -> int:
        return len(self.listen_queries)

    @property
    def speak_connections(self) -> int:
        return len(self.speak_queries)

    def control_count(self, kind: str) -> int:
        return sum(1 for name, _ in self.controls if name == kind)

    def speak_count(self, kind: str) -> int:
        return sum(1 for name, _ in self.speak_messages if name == kind)

    def audio_for(self, text: str) -> bytes:
        """Exactly the audio this fake sends for `text` (WS or REST)."""
        return tts_audio(text, self.opts.ms_per_char)

    async def kill_sockets(self, code: int = 1011) -> None:
        """Close every open WebSocket from the server side (a network blip, or shutdown)."""
        for ws in list(self._sockets):
            await ws.close(code=code, message=b"NET-0000")

    def next_transcript(self) -> str:
        return self.transcript_at(0)

    def transcript_at(self, index: int) -> str:
        """The script entry `index` places ahead (Flux holds a turn's entries until it ends)."""
        return self.script[index] if index < len(self.script) else FALLBACK_TRANSCRIPT

    def transcript_done(self) -> None:
        if self.script:
            self.script.pop(0)

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") == f"Token {self.api_key}":
            return None
        return _error_json(401, "INVALID_AUTH", "Invalid credentials.")

    # /v1/listen --------------------------------------------------------------------------------

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._refused(request)) is not None:
            return refusal
        return await self._serve_listen(request, Recognizer)

    async def _flux_listen(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._refused(request) or _flux_refusal(request)) is not None:
            return refusal
        return await self._serve_listen(request, FluxRecognizer)

    async def _serve_listen(
        self, request: web.Request, kind: type[ListenTimeline]
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        self.listen_queries.append(dict(request.query))
        self.listen_redact.append(request.query.getall("redact", []))
        self._redact_on[ws] = self.listen_redact[-1]
        self.listen_audio.append(0)
        self.listen_open += 1
        self._sockets.add(ws)
        self._notify()
        rec: ListenTimeline = kind(self, dict(request.query), len(self.listen_audio) - 1)
        self.recognizers.append(rec)
        try:
            for message in rec.opening():
                await self._send_listen(ws, message)
            await self._listen_loop(ws, rec)
        finally:
            self._sockets.discard(ws)
            self._redact_on.pop(ws, None)
            self.listen_open -= 1
            self._notify()
        return ws

    async def _listen_loop(self, ws: web.WebSocketResponse, rec: ListenTimeline) -> None:
        while not ws.closed:
            try:
                msg = await ws.receive(timeout=self.opts.idle_timeout_s)
            except TimeoutError:
                await ws.close(code=1011, message=b"NET-0001")
                return
            if msg.type == WSMsgType.BINARY:
                done = await self._on_audio(ws, rec, msg.data)
            elif msg.type == WSMsgType.TEXT:
                done = await self._on_listen_control(ws, rec, json.loads(msg.data))
            else:
                done = True
            if done:
                return

    async def _on_audio(self, ws: web.WebSocketResponse, rec: ListenTimeline, data: bytes) -> bool:
        self.audio_bytes += len(data)
        self.listen_audio[rec.connection] += len(data)
        for message in rec.feed(data):
            await self._send_listen(ws, message)
        limit = self.opts.drop_after_speech_frames
        if limit is not None and rec.speech_frames >= limit and self.drops < self.opts.max_drops:
            self.drops += 1
            if self.opts.drop_error_code is not None and isinstance(rec, FluxRecognizer):
                await self._send_listen(ws, rec.error(self.opts.drop_error_code))
            await ws.close(code=1011, message=b"NET-0000")
            return True
        return False

    async def _on_listen_control(
        self, ws: web.WebSocketResponse, rec: ListenTimeline, message: dict[str, Any]
    ) -> bool:
        self.controls.append((str(message.get("type")), time.monotonic()))
        self._notify()
        replies, close = rec.control(message)
        for reply in replies:
            await self._send_listen(ws, reply)
        if close:
            await ws.close(code=1000)
        return close

    async def _send_listen(self, ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
        if message["type"] == "Results" and (options := self._redact_on.get(ws)):
            message = _redacted_results(message, options)
        await ws.send_str(json.dumps(message))
        now = time.monotonic()
        if message["type"] == "SpeechStarted":
            self.speech_started_at.append(now)
        elif message["type"] == "Results":
            self.results_sent.append(message)
            if message["is_final"]:
                self.finals_sent.append((message["channel"]["alternatives"][0]["transcript"], now))
        elif message["type"] == "TurnInfo":
            self.turn_infos.append(message)
            if message.get("event") == "EagerEndOfTurn":  # what a reply is first prepared on
                self.eager_ends_sent.append((message.get("transcript", ""), now))
        self._notify()

    # /v1/speak WebSocket ------------------------------------------------------------------------

    async def _speak_ws(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._refused(request)) is not None:
            return refusal
        if self.opts.speak_ws_status is not None:
            return _error_json(self.opts.speak_ws_status, "INTERNAL", "Refused by the fake.")
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        self.speak_queries.append(dict(request.query))
        self._speak_opened(ws, +1)
        session = _SpeakSession(self, ws)
        try:
            await ws.send_str(json.dumps(_speak_metadata(request.query.get("model", ""))))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and await session.on_text(json.loads(msg.data)):
                    break
        finally:
            await session.stop()
            self._speak_opened(ws, -1)
        return ws

    def _speak_opened(self, ws: web.WebSocketResponse, delta: int) -> None:
        self.speak_open += delta
        (self._sockets.add if delta > 0 else self._sockets.discard)(ws)
        self._notify()

    # /v1/speak REST -----------------------------------------------------------------------------

    async def _speak_rest(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._refused(request)) is not None:
            return refusal
        self.rest_queries.append(dict(request.query))
        self._notify()
        if self.opts.rest_status is not None:
            return _error_json(self.opts.rest_status, "FAKE_FAILURE", "Failing on purpose.")
        if request.query.get("encoding") != "mulaw" or request.query.get("container") != "none":
            return _error_json(400, "Bad Request", "fake serves encoding=mulaw&container=none")
        text = str((await request.json()).get("text", ""))
        req = TtsRequest(text=text, transport="rest", received_at=time.monotonic())
        self.tts_requests.append(req)
        await asyncio.sleep(self.opts.first_byte_ms / 1000)  # simulated synthesis latency
        response = web.StreamResponse(headers=_rest_headers(request.query.get("model", "")))
        await response.prepare(request)
        for chunk in _chunks(self.audio_for(text), self.opts.chunk_bytes):
            await response.write(chunk)
            self._record_audio(req, len(chunk))
            await asyncio.sleep(self._chunk_pause(len(chunk)))
        await response.write_eof()
        return response

    def _record_audio(self, req: TtsRequest, size: int) -> None:
        if req.first_byte_at is None:
            req.first_byte_at = time.monotonic()
        req.bytes_sent += size
        self._notify()

    def _chunk_pause(self, size: int) -> float:
        return size / SAMPLE_RATE / self.opts.speedup


class _SpeakSession:
    """One speak socket: Speak texts wait for a Flush; a producer task streams them in order, so
    a Clear can cut in between any two chunks. Where each behaviour comes from:

    - `Metadata` right after connecting: PROTOCOLS.md 3.2 (sent by the live service; the SDK
      parses it as SpeakV1Metadata). Sent by `FakeDeepgram._speak_ws`.
    - Speak text is buffered until a Flush; then its audio, then `{"type": "Flushed",
      "sequence_id": n}`, n counting this socket's processed Flushes from 0: Deepgram's docs
      (tts-ws-flush, "Flush Confirmation") and PROTOCOLS.md 3.2 ("after the audio for everything
      before a Flush").
    - `Clear` drops the buffered text and the audio not yet sent and is answered with `{"type":
      "Cleared", "sequence_id": n}`: docs (tts-ws-clear) and PROTOCOLS.md 3.2.
    - The Flush limit: "The maximum number of times you can send the Flush message is 20 times
      every 60 seconds. After that, you will receive a warning message stating that we cannot
      process any more flush messages until the 60-second time window has passed" (docs:
      tts-ws-flush, "Limits"). So a Flush past `opts.flush_limit` in `opts.flush_window_s` gets a
      Warning shaped as the SDK's SpeakV1Warning (`description`, `code`; PROTOCOLS.md 3.2), no
      audio and no Flushed. The docs give no code, nor say whether the window slides or is
      fixed, nor what becomes of the text: the fake's code is its own ("FLUSH_LIMIT_EXCEEDED"),
      the window slides over processed Flushes (the stricter reading: a client within it is
      within any fixed window too), and the text stays buffered, so a later processed Flush
      speaks it unless a Clear drops it first.
    - `Close` closes with 1000: PROTOCOLS.md 3.2.
    """

    def __init__(self, fake: FakeDeepgram, ws: web.WebSocketResponse) -> None:
        self._fake = fake
        self._ws = ws
        self._pending: list[TtsRequest] = []
        self._jobs: asyncio.Queue[tuple[list[TtsRequest], int]] = asyncio.Queue()
        self._flushes = 0
        self._flushed_at: deque[float] = deque()  # processed Flushes within the limit's window
        self._clears = 0
        self._sent = 0  # audio bytes on this socket
        self._requests: list[TtsRequest] = []  # every Speak on this socket
        self._producer = self._start_producer()

    def _start_producer(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._produce(), name="fake-deepgram-speak")

    async def on_text(self, message: dict[str, Any]) -> bool:
        """Handle one client frame; True when the socket should close."""
        kind = str(message.get("type"))
        self._fake.speak_messages.append((kind, time.monotonic()))
        self._fake._notify()
        if kind == "Speak":
            req = TtsRequest(str(message.get("text", "")), "ws", time.monotonic())
            self._fake.tts_requests.append(req)
            self._requests.append(req)
            self._pending.append(req)
        elif kind == "Flush":
            await self._flush()
        elif kind == "Clear":
            await self._clear()
        elif kind == "Close":
            await self._ws.close(code=1000)
            return True
        return False

    async def _flush(self) -> None:
        if self._over_flush_limit():
            opts = self._fake.opts
            warning = {"type": "Warning", "code": "FLUSH_LIMIT_EXCEEDED", "description": (
                f"Cannot process any more Flush messages: the limit is {opts.flush_limit} every"
                f" {opts.flush_window_s:g} seconds.")}  # fmt: skip
            self._fake.speak_warnings.append((warning, time.monotonic()))
            await self._ws.send_str(json.dumps(warning))
            return
        self._flushed_at.append(time.monotonic())
        self._jobs.put_nowait((self._pending, self._flushes))
        self._pending, self._flushes = [], self._flushes + 1

    def _over_flush_limit(self) -> bool:
        limit, window = self._fake.opts.flush_limit, self._fake.opts.flush_window_s
        now = time.monotonic()
        while self._flushed_at and now - self._flushed_at[0] >= window:
            self._flushed_at.popleft()
        return limit is not None and len(self._flushed_at) >= limit

    async def stop(self) -> None:
        self._producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._producer

    async def _clear(self) -> None:
        await self.stop()
        for req in self._requests:
            req.cleared = req.cleared or not req.flushed
        self._pending, self._jobs = [], asyncio.Queue()
        self._producer = self._start_producer()
        await self._ws.send_str(json.dumps({"type": "Cleared", "sequence_id": self._clears}))
        self._clears += 1

    async def _produce(self) -> None:
        opts = self._fake.opts
        while True:
            reqs, sequence_id = await self._jobs.get()
            for req in reqs:
                await asyncio.sleep(opts.first_byte_ms / 1000)  # simulated synthesis latency
                if not await self._stream(req):
                    return
            for req in reqs:
                req.flushed = True
            await self._ws.send_str(json.dumps({"type": "Flushed", "sequence_id": sequence_id}))

    async def _stream(self, req: TtsRequest) -> bool:
        """Send one text's audio; False when the socket was dropped on purpose."""
        limit = self._fake.opts.speak_ws_drop_after_bytes
        for chunk in _chunks(self._fake.audio_for(req.text), self._fake.opts.chunk_bytes):
            if limit is not None and self._sent >= limit:
                await self._ws.close(code=1011, message=b"NET-0000")
                return False
            await self._ws.send_bytes(chunk)
            self._sent += len(chunk)
            self._fake._record_audio(req, len(chunk))
            await asyncio.sleep(self._fake._chunk_pause(len(chunk)))
        return True


# What Deepgram's `pci` and `ssn` options hide in this fake: 13-19 digits (spaces or dashes between
# groups) and 3-2-4 digits with dashes.
_DEEPGRAM_REDACTS = {
    "pci": re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
}
_FLUX_REDACT = ("numbers", "aggressive_numbers", "true")


def _redacted_results(message: dict[str, Any], options: list[str]) -> dict[str, Any]:
    alternative = dict(message["channel"]["alternatives"][0])
    for option in options:
        if (pattern := _DEEPGRAM_REDACTS.get(option)) is not None:
            alternative["transcript"] = pattern.sub("[REDACTED]", alternative["transcript"])
    channel = {**message["channel"], "alternatives": [alternative]}
    return {**message, "channel": channel}


def _flux_refusal(request: web.Request) -> web.Response | None:
    """/v2/listen wants a Flux model and thresholds in range: else 400 at the handshake."""
    if not request.query.get("model", "").startswith("flux"):
        return _error_json(400, "Bad Request", "/v2/listen serves Flux models only")
    if unsupported := [o for o in request.query.getall("redact", []) if o not in _FLUX_REDACT]:
        return _error_json(400, "Bad Request", f"Flux does not support redact={unsupported[0]}")
    try:
        problem = Thresholds.parse(dict(request.query)).problem()
    except ValueError as error:
        problem = str(error)
    return None if problem is None else _error_json(400, "Bad Request", problem)


def _error_json(status: int, code: str, message: str) -> web.Response:
    body = {"err_code": code, "err_msg": message, "request_id": str(uuid.uuid4())}
    return web.json_response(body, status=status)


def _speak_metadata(model: str) -> dict[str, Any]:
    return {
        "type": "Metadata", "request_id": str(uuid.uuid4()), "model_name": model,
        "model_version": "2024-01-01", "model_uuid": str(uuid.uuid4()),
    }  # fmt: skip


def _rest_headers(model: str) -> dict[str, str]:
    return {
        "Content-Type": "audio/mulaw",
        "dg-request-id": str(uuid.uuid4()),
        "dg-model-name": model,
    }
