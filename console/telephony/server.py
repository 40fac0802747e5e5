"""The Twilio edge: the voice webhook (TwiML), the media WebSocket, and a health check.

Served with aiohttp's AppRunner/TCPSite so it lives inside whatever event loop the runtime runs
(the TUI's, or `serve`'s). The server knows the wire only; each call is handed to a StreamHandler
made by the HandlerFactory that runtime.py passes in.

Bad input on a media socket is counted (per call and server-wide), logged with the call id,
published as `ProtocolErrorCounted`, and skipped: a hostile or broken peer can only hurt itself.
After MAX_ERRORS_PER_SOCKET bad messages the socket is closed with 1008 (policy violation):
a real Twilio stream sends ~50 good messages a second and never a bad one, so 1000 errors means
the peer is not Twilio or is broken beyond use, and reading on would only burn CPU.

What a peer must do to become a call, and keep doing to stay one (each limit a setting, each
refusal counted in `ServerStats` and /health):
- send `start` within VOICECONSOLE_LIMITS_START_DEADLINE_S, with a call and stream SID of
  Twilio's shape;
- when signatures are enforced, bring back the one-time ticket /voice gave that call, from the
  account of TWILIO_ACCOUNT_SID (guard.py says why the upgrade's own signature is not enough);
- not be a second stream for a call that already has one;
- stay under the limits' max sockets, max calls and media rate (VOICECONSOLE_LIMITS_...); of
  the sockets not yet started, the max pending sockets newest are kept;
- keep reading what we send: a peer that stops for SEND_TIMEOUT_S is cut off.

Reasons a handler's `on_stop(reason)` receives: "stream-stopped" (Twilio sent `stop`),
"socket-closed" (the peer went away without one), "socket-error" (e.g. a frame over 1 MiB, which
aiohttp closes with 1009), "protocol-errors" (the 1008 above), "inbound-flood" (over the rate
limit), "peer-stopped-reading", the reason given to `MediaSender.close`, or the reason given to
`MediaServer.stop` ("server-shutdown").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from twilio.request_validator import (
    SIGNATURE_HEADER,
    RequestValidator,
)
from twilio.twiml.voice_response import VoiceResponse

from console.config import PublicAddress, Settings
from console.events import AlertRaised, EventBus, ProtocolErrorCounted
from console.memory import ChurnCollector
from console.streams import HandlerFactory, StreamHandler, StreamStart
from console.telephony import twilio_protocol as tp
from console.telephony.guard import (
    RESUME_PARAMETER,
    RESUMED,
    TICKET_PARAMETER,
    FleetTickets,
    InboundBudget,
    StreamTickets,
    called_url,
    signed_by_twilio,
    valid_sid,
)
from console.telephony.placement import CallPlacer, CallResumer, Placement

log = logging.getLogger(__name__)

MAX_ERRORS_PER_SOCKET = 1000
LOUD_ERRORS_PER_SOCKET = 10  # log the first 10 at WARNING, then every 100th: a flood stays readable
# aiohttp closes (1009) frames above this before we see them; between the codec's 64 KiB cap and
# this, an oversized message is counted and skipped instead.
WS_MAX_FRAME_BYTES = 1024 * 1024
CLOSE_TIMEOUT_S = 2.0  # how long ws.close() waits for the peer's close frame
SEND_TIMEOUT_S = 5.0  # a peer that stops reading for 5 s is treated as gone
# Bytes waiting in a socket's write buffer below which a send cannot wait: aiohttp only waits for
# a transport that asyncio has paused, and asyncio resumes it once the buffer is under its low-
# water mark (16 KiB by default). Most sends (50 frames a second per call) take this path.
UNBLOCKED_BELOW_BYTES = 16 * 1024
SHUTDOWN_TIMEOUT_S = 5.0
STREAM_ENDED_PATH = "/stream-ended"  # <Connect action>: Twilio asks it what next when we hang up
BUSY_LINE = "Sorry, all our lines are busy right now. Please call again in a few minutes."
FAILED_LINE = "Sorry, we could not take your call just now. Please call again in a few minutes."
FAILED_SIDS_KEPT = 1000  # calls whose session failed, remembered for their <Connect action>


@dataclass
class ServerStats:
    """Counters for /health, the console and tests. Keys of `errors_by_call` are call SIDs, or
    `socket-N` for errors before a call started."""

    calls_active: int = 0
    calls_total: int = 0
    sockets_active: int = 0
    protocol_errors: int = 0
    rejected_requests: int = 0  # webhooks and upgrades refused for a bad or missing signature
    errors_before_start: int = 0  # counted, never turned into a call
    refused: Counter[str] = field(default_factory=Counter)  # sockets and calls turned away, why
    sessions_failed: int = 0  # a call's session could not be built: the caller heard an apology
    errors_by_reason: Counter[str] = field(default_factory=Counter)
    errors_by_call: Counter[str] = field(default_factory=Counter)


class _SocketSender:
    """MediaSender over one call socket. Writes are serialized by a lock so frames never
    interleave; once the socket is closing every call returns quietly (a caller hanging up
    mid-playback is normal, not an error for the code that was speaking)."""

    def __init__(self, connection: _CallConnection, stream_sid: str) -> None:
        self._connection = connection
        self._stream_sid = stream_sid
        self._lock = asyncio.Lock()
        self.sealed = False

    async def send_audio(self, mulaw: bytes) -> None:
        await self._send(tp.build_media(self._stream_sid, mulaw))

    async def send_mark(self, name: str) -> None:
        await self._send(tp.build_mark(self._stream_sid, name))

    async def send_clear(self) -> None:
        await self._send(tp.build_clear(self._stream_sid))

    async def close(self, reason: str) -> None:
        if not self.sealed:
            self.sealed = True
            await self._connection.close(reason, WSCloseCode.OK)

    async def _send(self, text: str) -> None:
        ws = self._connection.ws
        if self.sealed or ws.closed:
            return
        async with self._lock:
            try:
                if self._connection.write_backlog() < UNBLOCKED_BELOW_BYTES:
                    await ws.send_str(text)  # cannot wait (see UNBLOCKED_BELOW_BYTES)
                    return
                # A backed-up socket: a timer per send would cost more than the send itself on
                # every frame of every call, so only a send that may wait gets one.
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await ws.send_str(text)
            except (ConnectionError, RuntimeError, TimeoutError) as error:
                self.sealed = True  # the socket is going away; later writes are no-ops
                log.debug("call %s: write dropped (%s)", self._connection.call_label, error)
                if isinstance(error, TimeoutError):  # alive but not reading: cut it off
                    self._connection.abandon("peer-stopped-reading")


class _CallConnection:
    """One media socket: reads Twilio frames in order and drives one StreamHandler."""

    def __init__(
        self,
        server: MediaServer,
        ws: web.WebSocketResponse,
        number: int,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.server = server
        self.ws = ws
        self._transport = transport
        self.socket_label = f"socket-{number}"
        self.call_sid = ""
        self.stream_sid = ""
        self.handler: StreamHandler | None = None
        self.sender: _SocketSender | None = None
        self.errors = 0
        self._end_reason = ""
        self._finished = False
        self._handler_failures = 0
        self._forced_code: int | None = None
        settings = server.settings
        self._budget = InboundBudget(settings.limits.media_rate, settings.limits.media_burst_s)
        self._deadline = asyncio.get_running_loop().call_later(
            settings.limits.start_deadline_s, self._start_overdue)

    @property
    def call_label(self) -> str:
        return self.call_sid or self.socket_label

    def write_backlog(self) -> int:
        """Bytes written to this socket that the peer has not taken yet."""
        transport = self._transport
        if isinstance(transport, asyncio.WriteTransport):
            return transport.get_write_buffer_size()
        return UNBLOCKED_BELOW_BYTES  # unknown: treat every send as one that may wait

    async def run(self) -> None:
        try:
            async for message in self.ws:
                if not await self._on_message(message):
                    break
        except Exception:
            log.exception("call %s: media socket reader failed", self.call_label)
            self._end_reason = self._end_reason or "server-error"
        finally:
            self._deadline.cancel()
            await self.finish(self._end_reason or "socket-closed")
            self.server.release(self)
            await self._close_socket(WSCloseCode.OK)

    def _start_overdue(self) -> None:
        if self.handler is None and not self._finished:
            self.server.refuse("start-deadline")
            self.abandon("start-deadline")

    def abandon(self, reason: str) -> None:
        """Drop the connection now, without a closing handshake: the peer is not reading (or
        never became a call), so waiting on it would hold the socket and the call open."""
        self._end_reason = self._end_reason or reason
        if self._transport is not None:
            self._transport.abort()  # the reader ends, and run() finishes the call
        else:
            asyncio.get_running_loop().create_task(self._close_socket(WSCloseCode.POLICY_VIOLATION))

    async def _on_message(self, message: Any) -> bool:
        """Handle one frame; False ends the read loop."""
        if not self._budget.spend():
            self.server.refuse("inbound-flood")
            log.warning("call %s: closed: inbound over %.1fx real time", self.call_label,
                        self.server.settings.limits.media_rate)
            self._end_reason = "inbound-flood"
            self._forced_code = WSCloseCode.POLICY_VIOLATION
            return False
        if message.type is WSMsgType.TEXT:
            return await self._on_text(message.data)
        if message.type is WSMsgType.BINARY:
            return self.count("binary-frame", f"{len(message.data)} bytes")
        if message.type is WSMsgType.ERROR:
            self.count("socket-error", str(self.ws.exception())[:80])
            self._end_reason = "socket-error"
            return False
        return True

    async def _on_text(self, text: str) -> bool:
        try:
            event = tp.parse_inbound(text)
        except tp.ProtocolError as error:
            return self.count(error.reason, error.detail)
        if isinstance(event, tp.Start):
            return await self._on_start(event)
        if isinstance(event, tp.Connected):
            return True if self.handler is None else self.count("late-connected")
        if self.handler is None:
            return self.count("before-start", type(event).__name__.lower())
        if event.stream_sid and event.stream_sid != self.stream_sid:
            return self.count("stream-mismatch", event.stream_sid[:40])
        return self._deliver(event)

    def _deliver(self, event: tp.InboundEvent) -> bool:
        if isinstance(event, tp.Stop):
            self._end_reason = "stream-stopped"
            return False
        try:
            self._dispatch(event)
        except Exception:
            self._handler_failed()
        return True

    def _dispatch(self, event: tp.InboundEvent) -> None:
        assert self.handler is not None
        if isinstance(event, tp.Media):
            self.handler.on_media(event.payload)
        elif isinstance(event, tp.Dtmf):
            self.handler.on_dtmf(event.digit)
        elif isinstance(event, tp.Mark):
            self.handler.on_mark(event.name)

    def _handler_failed(self) -> None:
        self._handler_failures += 1
        if self._handler_failures == 1 or self._handler_failures % 100 == 0:
            log.exception(
                "call %s: handler raised (%d so far)", self.call_label, self._handler_failures
            )

    async def _on_start(self, start: tp.Start) -> bool:
        if self.handler is not None or self._finished:
            return self.count("second-start")
        if (refusal := self.server.admission(start)) is not None:
            return self._refuse(refusal)
        self.call_sid, self.stream_sid = start.call_sid, start.stream_sid
        self.sender = _SocketSender(self, start.stream_sid)
        stream = StreamStart(call_sid=start.call_sid, stream_sid=start.stream_sid,
                             account_sid=start.account_sid,
                             custom_parameters=self.server.stream_parameters(start))
        self.server.claim(self)
        try:
            self.handler = await self.server.handler_factory(stream, self.sender)
        except Exception as error:  # noqa: BLE001 - whatever broke, the caller must not hear silence
            self.server.session_failed(self, error)
            self._end_reason = "session-failed"
            await self._close_socket(WSCloseCode.INTERNAL_ERROR)
            return False
        self.server.call_started()
        if self._finished:  # shutdown (or a close) won the race while the factory ran
            self._finished = False
            await self.finish(self._end_reason or "socket-closed")
            return False
        return True

    def _refuse(self, reason: str) -> bool:
        """A `start` we will not serve: counted, logged, and the socket closed (1008)."""
        self.server.refuse(reason)
        log.warning("%s: stream refused: %s", self.socket_label, reason)
        self._end_reason = reason
        self._forced_code = WSCloseCode.POLICY_VIOLATION
        return False

    def count(self, reason: str, detail: str = "") -> bool:
        """Record one bad message; False (stop reading) once the socket has had too many."""
        self.errors += 1
        self.server.protocol_error(self, reason, detail)
        if self.errors <= LOUD_ERRORS_PER_SOCKET or self.errors % 100 == 0:
            log.warning(
                "call %s: protocol error #%d %s %s", self.call_label, self.errors, reason, detail
            )
        if self.errors < MAX_ERRORS_PER_SOCKET:
            return True
        self._end_reason = "protocol-errors"
        self._forced_code = WSCloseCode.POLICY_VIOLATION  # run()'s finally closes with 1008
        return False

    async def finish(self, reason: str) -> None:
        """Tell the handler the stream ended: exactly once, whoever notices first."""
        if self._finished:
            return
        self._finished = True
        if self.sender is not None:
            self.sender.sealed = True
        if self.handler is None:
            return
        self.server.call_ended()
        try:
            await self.handler.on_stop(reason)
        except Exception:
            log.exception("call %s: handler on_stop failed", self.call_label)

    async def close(self, reason: str, code: int) -> None:
        """Close on request (handler, shutdown); the reader then calls finish(reason)."""
        self._end_reason = self._end_reason or reason
        await self._close_socket(code)

    async def shutdown(self, reason: str) -> None:
        self._end_reason = self._end_reason or reason
        await self.finish(reason)
        await self._close_socket(WSCloseCode.GOING_AWAY)

    async def _close_socket(self, code: int) -> None:
        code = self._forced_code or code
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=self._end_reason.encode()[:120])


class MediaServer:
    """The HTTP/WebSocket face Twilio talks to. Add extra routes to `app` before `start()`."""

    def __init__(self, settings: Settings, handler_factory: HandlerFactory, bus: EventBus,
                 address: PublicAddress | None = None) -> None:
        self.settings = settings
        self.address = address or PublicAddress.of(settings)  # a tunnel may change it later
        self.handler_factory = handler_factory
        self.bus = bus
        self.stats = ServerStats()
        self.app = web.Application()
        self.app.add_routes(
            [
                web.post("/voice", self._voice),
                web.get("/media", self._media),
                web.get("/health", self._health),
                web.post(STREAM_ENDED_PATH, self._stream_ended),
            ]
        )
        self._validator = _validator(settings)
        self._tickets: StreamTickets | FleetTickets = StreamTickets()
        self._placer: CallPlacer | None = None  # one worker of a fleet: join_fleet()
        self._resumer: CallResumer | None = None  # failover, in a fleet
        # Issued by this worker for a stream to itself, so its own memory checks them.
        self._resume_tokens = StreamTickets()
        self._connections: set[_CallConnection] = set()
        self._calls: dict[str, _CallConnection] = {}  # call SID -> its one live stream
        self._waiting: OrderedDict[_CallConnection, None] = OrderedDict()  # no `start` yet
        self._failed: OrderedDict[str, None] = OrderedDict()  # calls whose session failed
        self._numbers = itertools.count(1)
        self._garbage = ChurnCollector()  # what closed sockets leave, freed soon after
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port = 0
        self._stopping = False

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> int:
        """Bind and serve; returns the bound port (settings.server.port 0 picks a free one)."""
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.settings.server.host, self.settings.server.port)
        await self._site.start()
        self._port = self._site.port
        log.info(
            "media server listening on %s (signatures %s)",
            self.url,
            "checked" if self._validator else "NOT checked",
        )
        return self._port

    async def stop(self, reason: str = "server-shutdown") -> None:
        """Ordered shutdown: stop accepting, end each call (on_stop, then GOING_AWAY 1001),
        then release the runner."""
        if self._runner is None:
            return
        self._stopping = True
        if self._site is not None:
            await self._site.stop()
        calls = [c.shutdown(reason) for c in list(self._connections)]
        await asyncio.gather(*calls, return_exceptions=True)
        await self._runner.cleanup()
        self._garbage.cancel()
        self._runner = self._site = None

    def join_fleet(self, placer: CallPlacer) -> None:
        """Serve as one worker of a fleet (issue 17): /voice sends each new call where `placer`
        says, and its tickets are ones that every worker of the fleet can check
        (guard.FleetTickets), since the stream may open on another worker. Call before the
        server takes calls."""
        self._placer = placer
        token = self.settings.twilio.auth_token
        if self._validator is not None and token is not None:
            self._tickets = FleetTickets(token.get_secret_value(), placer.worker)

    def take_over_orphans(self, resumer: CallResumer) -> None:
        """Failover, for a worker of a fleet: /stream-ended for a call whose worker died (as
        `resumer` judges) streams it here again, with its conversation. Call after join_fleet."""
        self._resumer = resumer

    @property
    def port(self) -> int:
        return self._port

    @property
    def live_calls(self) -> int:
        """Streams that are calls now (a call counts from its `start`): a worker's load."""
        return len(self._calls)

    @property
    def url(self) -> str:
        """Local http base, e.g. http://127.0.0.1:8765."""
        bound = self.settings.server.host
        host = "127.0.0.1" if bound in ("0.0.0.0", "") else bound
        return f"http://{host}:{self._port}"

    @property
    def media_url(self) -> str:
        """Local ws:// URL of the media socket (what a simulated caller dials)."""
        return "ws" + self.url.removeprefix("http") + "/media"

    # ---- bookkeeping called by connections ----------------------------------------------

    def protocol_error(self, connection: _CallConnection, reason: str, detail: str) -> None:
        self.stats.protocol_errors += 1
        self.stats.errors_by_reason[reason] += 1
        if not connection.call_sid:  # not a call: a count, never a phantom call in the store
            self.stats.errors_before_start += 1
            return
        self.stats.errors_by_call[connection.call_sid] += 1
        self.bus.publish(ProtocolErrorCounted(connection.call_sid, reason, detail))

    def refuse(self, reason: str) -> None:
        self.stats.refused[reason] += 1

    def admission(self, start: tp.Start) -> str | None:
        """Why this `start` may not become a call, or None. Checked before the SIDs are used
        anywhere: a call SID ends up in REST paths, file names and the store."""
        if not (valid_sid("call", start.call_sid) and valid_sid("stream", start.stream_sid)):
            return "bad-sid"
        if start.call_sid in self._calls:
            return "duplicate-stream"  # the live one keeps the call
        if len(self._calls) >= self.settings.limits.max_calls:
            return "calls-full"
        if self._validator is not None:
            return self._unbound(start)
        return None

    def _unbound(self, start: tp.Start) -> str | None:
        """With signatures on: the stream must be the one /voice answered, for our account."""
        account = self.settings.twilio.account_sid
        if account and start.account_sid != account:
            return "wrong-account"
        ticket = start.custom_parameters.get(TICKET_PARAMETER, "")
        if not self._tickets.redeem(start.call_sid, ticket):
            return "no-ticket"
        return None

    def stream_parameters(self, start: tp.Start) -> dict[str, str]:
        """What the handler sees of the stream's parameters: no ticket, and `resumed` only when
        the stream brought a good resume token (never because a peer said so)."""
        given = start.custom_parameters
        params = {k: v for k, v in given.items()
                  if k not in (TICKET_PARAMETER, RESUME_PARAMETER, RESUMED)}
        token = given.get(RESUME_PARAMETER)
        if token is not None and self._resume_tokens.redeem(start.call_sid, token):
            params[RESUMED] = "1"
        return params

    def claim(self, connection: _CallConnection) -> None:
        self._calls[connection.call_sid] = connection
        self._waiting.pop(connection, None)

    def release(self, connection: _CallConnection) -> None:
        if self._calls.get(connection.call_sid) is connection:
            del self._calls[connection.call_sid]

    def session_failed(self, connection: _CallConnection, error: Exception) -> None:
        """The call's session could not be built (a broken profile, a provider that would not
        start...). The operator is told, /health counts it, and when Twilio asks the
        <Connect action> what next, the caller hears an apology instead of silence."""
        sid = connection.call_sid
        log.error("call %s: session could not start: %s", sid, error, exc_info=error)
        self.stats.sessions_failed += 1
        self._failed[sid] = None
        while len(self._failed) > FAILED_SIDS_KEPT:
            self._failed.popitem(last=False)
        self.bus.publish(AlertRaised(sid, level="critical",
                                     message=f"call could not start: {error}"[:200]))

    def call_started(self) -> None:
        self.stats.calls_active += 1
        self.stats.calls_total += 1

    def call_ended(self) -> None:
        self.stats.calls_active -= 1

    # ---- routes -------------------------------------------------------------------------

    async def _voice(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not self._signed_webhook(request, form):
            return self._reject("voice webhook")
        call_sid = str(form.get("CallSid", ""))
        if self._validator is not None and not valid_sid("call", call_sid):
            return web.Response(status=400, text="CallSid missing or not a Twilio call SID")
        if (placed := self._place(request)) is None:
            self.refuse("calls-full")
            return _twiml(_spoken_then_hang_up(BUSY_LINE))
        stream_url, worker = placed
        response = VoiceResponse()
        connect = response.connect(action=self._action_base(request) + STREAM_ENDED_PATH)
        stream = connect.stream(url=stream_url)
        stream.parameter(name="caller", value=str(form.get("From", "")))
        stream.parameter(name="called", value=str(form.get("To", "")))
        if self._validator is not None:
            stream.parameter(name=TICKET_PARAMETER, value=self._tickets.issue(call_sid, worker))
        return _twiml(str(response))

    def _place(self, request: web.Request) -> tuple[str, str] | None:
        """The new call's stream URL and the worker it names: this server's own (the embedded
        default), or the one the fleet chose; None when every line is busy."""
        if self._placer is not None:
            chosen = self._placer.place()
            return None if chosen is None else (chosen.stream_url, chosen.worker)
        if len(self._calls) >= self.settings.limits.max_calls:
            return None
        return self.address.stream_url(request.host), ""

    def _action_base(self, request: web.Request) -> str:
        """Where Twilio asks what next when a stream ends: the fleet's front when there is one
        (any live worker answers it), else this server."""
        front = self._placer.front_url if self._placer is not None else None
        return front or self._public_base(request)

    async def _stream_ended(self, request: web.Request) -> web.Response:
        """Twilio's <Connect action>: our side ended the stream and the call is still up. A call
        whose session failed hears an apology; any other ends, as it did before."""
        form = await request.post()
        if not self._signed_webhook(request, form):
            return self._reject("stream-ended callback")
        call_sid = str(form.get("CallSid", ""))
        if call_sid in self._failed:
            return _twiml(_spoken_then_hang_up(FAILED_LINE))
        if await self._orphaned(call_sid):
            return _twiml(self._resume_here(request, form, call_sid))
        response = VoiceResponse()
        response.hangup()
        return _twiml(str(response))

    async def _orphaned(self, call_sid: str) -> bool:
        """A fleet's call whose worker died (failover), and that this worker has room for."""
        if self._resumer is None or not valid_sid("call", call_sid):
            return False
        if call_sid in self._calls or len(self._calls) >= self.settings.limits.max_calls:
            return False
        return await self._resumer.orphaned(call_sid)

    def _resume_here(self, request: web.Request, form: Any, call_sid: str) -> str:
        """A new stream for the call, to this worker, with a one-time resume token: the session
        it opens goes on with the carried conversation instead of greeting the caller anew."""
        here = Placement(self._placer.worker if self._placer else "", self.address.url or self.url)
        log.warning("call %s: its worker is gone; resuming it here", call_sid)
        response = VoiceResponse()
        connect = response.connect(action=self._action_base(request) + STREAM_ENDED_PATH)
        stream = connect.stream(url=here.stream_url)
        stream.parameter(name="caller", value=str(form.get("From", "")))
        stream.parameter(name="called", value=str(form.get("To", "")))
        stream.parameter(name=RESUME_PARAMETER, value=self._resume_tokens.issue(call_sid))
        if self._validator is not None:
            stream.parameter(name=TICKET_PARAMETER,
                             value=self._tickets.issue(call_sid, here.worker))
        return str(response)

    async def _media(self, request: web.Request) -> web.StreamResponse:
        if self._stopping:
            return web.Response(status=503, text="shutting down")
        if not self._signed(request, self.address.stream_url(request.host), {}):
            return self._reject("media upgrade")
        if self.stats.sockets_active >= self.settings.limits.max_sockets:
            self.refuse("sockets-full")
            return web.Response(status=503, text="too many media sockets")
        self._make_room_to_wait()
        self.stats.sockets_active += 1  # the slot is taken before the upgrade's awaits
        try:
            ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT_S, max_msg_size=WS_MAX_FRAME_BYTES)
            await ws.prepare(request)
            await self._serve_socket(ws, request.transport)
        finally:
            self.stats.sockets_active -= 1
        return ws

    def _make_room_to_wait(self) -> None:
        """Sockets that have not started a call get a small share: each costs ~40 kB and
        garbage-collection time, and enough of them would keep real calls out. When the share is
        full, the one that has waited longest goes, not the newcomer: a real stream sends
        `start` within milliseconds of opening, so it is never the oldest; someone holding
        sockets open is."""
        while len(self._waiting) >= self.settings.limits.max_pending_sockets:
            oldest = next(iter(self._waiting))
            del self._waiting[oldest]
            self.refuse("pending-evicted")
            oldest.abandon("pending-evicted")

    def _reject(self, what: str) -> web.Response:
        """A request without a valid Twilio signature: refused, logged and counted (a forged
        or misconfigured webhook is something the operator should see)."""
        self.stats.rejected_requests += 1
        log.warning("%s rejected: bad or missing %s", what, SIGNATURE_HEADER)
        return web.Response(status=403, text="invalid signature")

    async def _serve_socket(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport | None
    ) -> None:
        connection = _CallConnection(self, ws, next(self._numbers), transport)
        self._connections.add(connection)
        self._waiting[connection] = None
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            self._waiting.pop(connection, None)
            self._garbage.closed()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(self.health())

    def health(self) -> dict[str, Any]:
        """/health's body, and what the console's status bar shows."""
        stats = self.stats
        return {
            "status": "ok",
            "calls": stats.calls_active,
            "sockets": stats.sockets_active,
            "protocol_errors": stats.protocol_errors,
            "errors_before_start": stats.errors_before_start,
            "rejected_requests": stats.rejected_requests,
            "refused": dict(stats.refused),
            "sessions_failed": stats.sessions_failed,
            "signatures": "enforced" if self._validator else self.settings.unsigned_reason(),
            "limits": {"max_calls": self.settings.limits.max_calls,
                       "max_sockets": self.settings.limits.max_sockets,
                       "max_pending_sockets": self.settings.limits.max_pending_sockets,
                       "start_deadline_s": self.settings.limits.start_deadline_s,
                       "media_rate_limit": self.settings.limits.media_rate},
        } | ({"fleet": self._placer.health()} if self._placer is not None else {})

    # ---- signatures ---------------------------------------------------------------------

    def _signed_webhook(self, request: web.Request, form: Any) -> bool:
        """Twilio signs the public URL it called (the tunnel's), never our local address; in a
        fleet with a front, the front's (the number's webhook and the <Connect action>)."""
        bases = [self._public_base(request)]
        if self._placer is not None and self._placer.front_url:
            bases.append(self._placer.front_url)
        return any(self._signed(request, base + request.path_qs, form) for base in bases)

    def _public_base(self, request: web.Request) -> str:
        return called_url(self.address.url, request.scheme, request.host, "")

    def _signed(self, request: web.Request, url: str, params: Any) -> bool:
        return signed_by_twilio(self._validator, request.headers, url, params)


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml")


def _spoken_then_hang_up(line: str) -> str:
    response = VoiceResponse()
    response.say(line)
    response.hangup()
    return str(response)


def _validator(settings: Settings) -> RequestValidator | None:
    settings.warn_about_risky_choices()
    if not settings.validates_signatures or settings.twilio.auth_token is None:
        return None
    return RequestValidator(settings.twilio.auth_token.get_secret_value())
