"""Lean simulated callers for bench/fleet.py: N Twilio media streams from one process, cheap
enough that the load generator does not take the cores it is measuring.

    python bench/lean_callers.py CALLS STAGGER_S RAMP_S TURNS VOICE_URL [VOICE_URL ...]

Each call rings a worker's /voice (round robin over the VOICE_URLs, as a load balancer in front
of the fleet would), opens the `<Stream url>` the TwiML names (the worker the fleet chose, which
may be another one) and speaks the script of bench/pipeline.py: once greeted, it waits a random
moment within STAGGER_S (seeded), says TURNS turns of real speech (bench/lean_fakes.py), each
waiting for the answer to finish, then barges in 700 ms into the last answer, and hangs up. Calls
ring at moments spread evenly over RAMP_S.

What it leaves out, to stay cheap (the console's SimulatedCaller does all of it; at 50 calls it
cost bench/scaling.py about as much CPU as the server):
- It speaks WebSocket itself (RFC 6455 on an asyncio Protocol: the upgrade, then frames in and
  out) instead of through aiohttp. Its frames are masked with a zero key, which a server unmasks
  like any other, so a media message costs one `transport.write`.
- Media messages are Twilio's JSON, byte for byte, from a template: each frame's base64 is made
  once, and only the counters change.
- One clock for every call: a task ticks every 5 ms and sends the next frame of the quarter of
  the calls whose 20 ms slot it is (four phases, so the calls' frames do not all land at once),
  instead of one sleeping task per call.
- Agent audio is not decoded: a message is told by its first bytes (`{"event":"media"`, mark,
  clear), its arrival time is kept, and its length read off the base64 runs the speaker's clock
  (a mark is echoed when the audio before it has played, a clear echoes them all at once, as
  Twilio does).

Prints JSON: what bench/caller_worker.py prints (each caller's log: speech start and end with the
label of its last voiced frame, agent turn starts, clears, frame arrivals; times in seconds since
the call started, `started_at` on time.monotonic), plus the stream URL each call got, this
process's loop lag and its CPU seconds while the calls ran.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import secrets
import sys
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import websocket_frames as ws
from lean_fakes import VARIANTS, frames, turn  # noqa: I001 - bench/, beside this file
from probe_server import LagProbe

from console.simulate.options import CallerOptions, new_sid
from console.simulate.ringing import ring
from console.telephony import twilio_protocol as tp

FRAME_S = 0.020
PHASES = 4  # calls send on four 5 ms phases of the 20 ms frame clock
MAX_LAG_S = 2.0  # the clock fell this far behind (a stalled machine): skip, do not burst
SILENT = b"\xff" * 160
MEDIA = ('{"event":"media","sequenceNumber":"%d","media":{"track":"inbound","chunk":"%d",'
         '"timestamp":"%d","payload":"%s"},"streamSid":"%s"}')
GREETING_WAIT_S = 3.0  # as SimulatedCaller: no greeting this long, the caller talks anyway
REPLY_WAIT_S = 15.0  # as bench/pipeline.py's callers
REPLY_QUIET_S = 0.6  # a reply is over when the speaker is idle and nothing came for this long
TURN_GAP_S = 0.1  # audio after 100 ms of idle speaker starts a new agent turn (playout.py)
BARGE_IN_AFTER_S = 0.7
CLOSE_WAIT_S = 2.0
HANDSHAKE = ("GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n")

_base64: dict[bytes, str] = {}


def _payload(frame: bytes) -> str:
    text = _base64.get(frame)
    if text is None:
        text = _base64[frame] = base64.b64encode(frame).decode("ascii")
    return text


class Line(asyncio.Protocol):
    """One media socket, client side: the upgrade, then text frames in (to `on_text`) and out."""

    def __init__(self, host: str, path: str, on_text: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._request = HANDSHAKE.format(path=path, host=host,
                                         key=base64.b64encode(secrets.token_bytes(16)).decode())
        self._on_text = on_text
        self._buffer = bytearray()
        self._upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded and not self._upgrade():
            return
        self._frames()

    def _upgrade(self) -> bool:
        head = ws.take_head(self._buffer)
        if head is None:
            return False
        if not head.startswith(b"HTTP/1.1 101"):
            self.opened.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
            assert self.transport is not None
            self.transport.close()
            return False
        self._upgraded = True
        self.opened.set_result(None)
        return True

    def _frames(self) -> None:
        for opcode, payload in ws.take_frames(self._buffer):
            self._on_frame(opcode, payload)

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == ws.TEXT:
            self._on_text(payload)
        elif opcode == ws.PING:
            self._send(ws.PONG, payload)
        elif opcode == ws.CLOSE:  # close back, and the socket ends
            self._send(ws.CLOSE, payload[:2])
            assert self.transport is not None
            self.transport.close()

    def send_text(self, text: str) -> None:
        self._send(ws.TEXT, text.encode())

    def close(self) -> None:
        self._send(ws.CLOSE, (1000).to_bytes(2, "big"))

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(ws.encode(opcode, payload, masked=True))


class LeanCaller:
    """One call: its script (a coroutine that wakes a few times a call) and its per-frame work
    (`tick` from the shared clock, `on_text` from its socket), kept to a few operations each."""

    def __init__(self, index: int, delay_s: float, turns: int) -> None:
        self.index, self.delay_s, self.turns = index, delay_s, turns
        self.phase = index % PHASES
        self.call_sid, self.stream_sid, self.account_sid = new_sid("CA"), new_sid("MZ"), \
            new_sid("AC")
        self.stream_url = ""
        self.speech: list[dict[str, Any]] = []
        self.turn_starts: list[float] = []
        self.clears: list[float] = []
        self.received_at: list[float] = []
        self.errors: list[str] = []
        self.line: Line | None = None
        self.t0 = 0.0
        self._loop = asyncio.get_running_loop()
        self._outbox: deque[bytes] = deque()
        self._spoken: asyncio.Future[None] | None = None
        self._speaking: dict[str, Any] = {}
        self._waiting: tuple[Callable[[float], bool], asyncio.Future[bool]] | None = None
        self._marks: deque[tuple[float, str]] = deque()  # (played by, name)
        self._played_by = 0.0  # the speaker's clock: queued agent audio ends here
        self._fresh = True
        self._last_arrival = -1.0
        self._sequence = 0
        self._chunk = 0
        self.closed = False
        self.duration_s = 0.0  # from the stream's start to the hang-up

    # ---- the call -------------------------------------------------------------------------

    async def run(self, session: aiohttp.ClientSession, voice_url: str, clock: Clock) -> None:
        try:
            await self._dial(session, voice_url)
            clock.add(self)
            try:
                await self._script()
            finally:
                clock.remove(self)
                await self._hang_up()
        except (OSError, aiohttp.ClientError, ConnectionError, TimeoutError) as error:
            self.errors.append(f"{type(error).__name__}: {error}"[:200])

    async def _dial(self, session: aiohttp.ClientSession, voice_url: str) -> None:
        options = CallerOptions(url="", voice_url=voice_url, call_sid=self.call_sid,
                                account_sid=self.account_sid)
        answer = await ring(session, options)
        if not answer.stream_url:
            raise ConnectionError(f"/voice refused the call: {answer.refusal}")
        self.stream_url = answer.stream_url
        where = urlsplit(answer.stream_url)
        self.line = Line(where.netloc, where.path, self.on_text)
        await self._loop.create_connection(lambda: self.line, where.hostname, where.port)
        self.line.closed.add_done_callback(lambda _: self._line_closed())
        await asyncio.wait_for(self.line.opened, 5.0)
        self.line.send_text(tp.build_connected())
        self.line.send_text(tp.build_start(self.stream_sid, self.call_sid, self.account_sid,
                                           answer.parameters, self._next_sequence()))
        self.t0 = self._loop.time()

    async def _hang_up(self) -> None:
        line = self.line
        if line is None or self.closed:
            return
        self.duration_s = self._loop.time() - self.t0
        line.send_text(tp.build_stop(self.stream_sid, self.account_sid, self.call_sid,
                                     self._next_sequence()))
        line.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(line.closed), CLOSE_WAIT_S)
        if line.transport is not None:
            line.transport.close()

    def _line_closed(self) -> None:
        self.closed = True
        if self._waiting is not None and not self._waiting[1].done():
            self._waiting[1].set_result(False)
        if self._spoken is not None and not self._spoken.done():
            self._spoken.set_result(None)

    # ---- the script (bench/pipeline.py's _caller) -----------------------------------------

    async def _script(self) -> None:
        await self._wait_reply(0.0, GREETING_WAIT_S, required=False)
        heard_from = 0.0
        for index in range(self.turns + 1):
            if self.closed:
                self.errors.append("the worker ended the call")
                return
            barge = index == self.turns
            if barge and await self._until(self._turn_since(heard_from), REPLY_WAIT_S):
                await asyncio.sleep(BARGE_IN_AFTER_S)  # the caller's reaction time
            heard_from = await self._speak(index, barge)
            if index != self.turns - 1:  # the turn before the barge-in does not wait
                await self._wait_reply(heard_from, REPLY_WAIT_S, required=True)

    async def _speak(self, index: int, barge: bool) -> float:
        """Queue the turn's frames for the clock; returns its end (s since the call started)."""
        mulaw, spoken_until = turn(self.index * 7 + index)  # 7: neighbours say different turns
        lead = round(self.delay_s / FRAME_S) if index == 0 else 0  # silence before the 1st turn
        record = {"index": index, "label": f"{lead * FRAME_S + spoken_until:.3f}",
                  "barge_in": barge}
        self.speech.append(record)
        self._speaking = record
        self._outbox.extend([SILENT] * lead + frames(mulaw))
        self._spoken = self._loop.create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._spoken, len(self._outbox) * FRAME_S + 7)
        return float(record.get("end", self._loop.time() - self.t0))

    async def _wait_reply(self, since: float, first_audio_s: float, required: bool) -> None:
        if not await self._until(self._turn_since(since), first_audio_s):
            if required and not self.closed:
                self.errors.append(f"no reply within {first_audio_s:.0f} s after {since:.2f} s")
            return
        if not await self._until(self._reply_over, REPLY_WAIT_S):
            self.errors.append(f"reply after {since:.2f} s did not finish playing")

    def _turn_since(self, since: float) -> Callable[[float], bool]:
        """Has an agent turn started after `since` (s since the call started)?"""
        return lambda _: bool(self.turn_starts) and self.turn_starts[-1] > since

    def _reply_over(self, elapsed: float) -> bool:
        return (elapsed - self._last_arrival >= REPLY_QUIET_S and elapsed >= self._played_by
                and not self._marks)

    async def _until(self, condition: Callable[[float], bool], timeout_s: float) -> bool:
        """Until `condition(elapsed)` holds (the clock asks it every 20 ms) or the timeout."""
        if self.closed:
            return False
        waiting: asyncio.Future[bool] = self._loop.create_future()
        self._waiting = (condition, waiting)
        try:
            return await asyncio.wait_for(waiting, timeout_s)
        except TimeoutError:
            return False
        finally:
            self._waiting = None

    # ---- every 20 ms, from the clock --------------------------------------------------------

    def tick(self, now: float) -> None:
        elapsed = now - self.t0
        speaking = bool(self._outbox)
        frame = self._outbox.popleft() if speaking else SILENT
        if speaking:
            self._speaking.setdefault("start", elapsed)
        self._send_frame(frame)
        if speaking and not self._outbox:
            self._speaking["end"] = elapsed
            if self._spoken is not None and not self._spoken.done():
                self._spoken.set_result(None)
        while self._marks and self._marks[0][0] <= elapsed:
            self._echo(self._marks.popleft()[1])
        if self._waiting is not None and self._waiting[0](elapsed) \
                and not self._waiting[1].done():
            self._waiting[1].set_result(True)

    def _send_frame(self, frame: bytes) -> None:
        assert self.line is not None
        self._chunk += 1
        self._sequence += 1
        self.line.send_text(MEDIA % (self._sequence, self._chunk, (self._chunk - 1) * 20,
                                     _payload(frame), self.stream_sid))

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _echo(self, name: str) -> None:
        assert self.line is not None
        self.line.send_text(tp.build_mark_echo(self.stream_sid, name, self._next_sequence()))

    # ---- what the worker sends --------------------------------------------------------------

    def on_text(self, data: bytes) -> None:
        elapsed = self._loop.time() - self.t0
        if data.startswith(b'{"event":"media"'):
            self._on_media(data, elapsed)
        elif data.startswith(b'{"event":"mark"'):
            start = data.index(b'"name":"') + 8
            self._marks.append((self._played_by, data[start : data.index(b'"', start)].decode()))
        elif data.startswith(b'{"event":"clear"'):
            self.clears.append(elapsed)
            self._played_by = min(self._played_by, elapsed)
            while self._marks:
                self._echo(self._marks.popleft()[1])
            self._fresh = True

    def _on_media(self, data: bytes, elapsed: float) -> None:
        start = data.index(b'"payload":"') + 11
        end = data.index(b'"', start)
        samples = (end - start) * 3 // 4 - data.count(b"=", end - 2, end)
        idle = elapsed - self._played_by
        if idle > 0:
            self._played_by = elapsed
        self._played_by += samples / 8000
        if self._fresh or idle >= TURN_GAP_S:
            self.turn_starts.append(elapsed)
        self._fresh = False
        self.received_at.append(elapsed)
        self._last_arrival = elapsed

    def record(self) -> dict[str, Any]:
        """caller_worker.py's shape, so bench/pipeline.py and bench/scaling.py can read it."""
        log = {"speech": self.speech, "turn_starts": self.turn_starts, "clears": self.clears,
               "received_at": self.received_at, "errors": self.errors}
        return {"log": log, "turn_first_frames": [], "started_at": self.t0,
                "stream_url": self.stream_url, "duration_s": round(self.duration_s, 2)}


class Clock:
    """Ticks every 5 ms on absolute deadlines; each tick sends one frame for every call of its
    phase, so each call sends one every 20 ms."""

    def __init__(self) -> None:
        self._phases: list[set[LeanCaller]] = [set() for _ in range(PHASES)]

    def add(self, caller: LeanCaller) -> None:
        self._phases[caller.phase].add(caller)

    def remove(self, caller: LeanCaller) -> None:
        self._phases[caller.phase].discard(caller)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start, n, step = loop.time(), 0, FRAME_S / PHASES
        while True:
            lag = loop.time() - (start + n * step)
            if lag < 0:
                await asyncio.sleep(-lag)
            elif lag > MAX_LAG_S:
                n += int(lag / step)
                continue
            now = loop.time()
            for caller in list(self._phases[n % PHASES]):
                if not caller.closed:
                    caller.tick(now)
            n += 1


async def main(calls: int, stagger_s: float, ramp_s: float, turns: int,
               voice_urls: list[str]) -> dict[str, Any]:
    moments = random.Random(calls)  # as caller_worker.py: the same moments every run
    callers = [LeanCaller(i, moments.uniform(0, stagger_s), turns) for i in range(calls)]
    for variant in range(VARIANTS):
        turn(variant)  # made before the calls, not during them
    clock, probe = Clock(), LagProbe()
    ticking = asyncio.create_task(clock.run(), name="lean-callers-clock")
    probing = asyncio.create_task(probe.run(), name="lean-callers-lag-probe")
    cpu_before = os.times()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(_placed(c, session, voice_urls[i % len(voice_urls)], clock,
                                       i * ramp_s / calls)
                               for i, c in enumerate(callers)))
    cpu = os.times()
    for task in (ticking, probing):
        task.cancel()
    return {"callers": [c.record() for c in callers], "loop_lag_ms": probe.summary(),
            "cpu_s": {"user": round(cpu.user - cpu_before.user, 2),
                      "system": round(cpu.system - cpu_before.system, 2)}}


async def _placed(caller: LeanCaller, session: aiohttp.ClientSession, voice_url: str,
                  clock: Clock, after_s: float) -> None:
    await asyncio.sleep(after_s)  # the call's arrival, on the ramp
    await caller.run(session, voice_url, clock)


if __name__ == "__main__":
    result = asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]),
                              int(sys.argv[4]), sys.argv[5:]))
    print(json.dumps(result))
