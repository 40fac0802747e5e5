"""The hostile peers of bench/hostile_load.py, in a process of their own (as bench/caller_worker.py
is for the good calls), at the lowest CPU priority: on the load core it takes only what the good
callers and the fakes leave, so the bench times the server under attack, not this process
crowding the callers' timestamps.

    python bench/hostile_worker.py ws://127.0.0.1:PORT/media IDLE FLOODS SPEEDUP

- IDLE sockets held open: each opens the media socket, says `connected`, and never `start`. When
  the server closes one, another is opened in its place, at most OPEN_PER_S a second and
  OPENING_AT_ONCE at a time (a crowd of slow peers, not a SYN flood).
- FLOODS floods held: each starts a call (no ticket: the bench's server has no auth token) and
  sends silence at SPEEDUP x real time until the server closes it, then dials again REDIAL_S
  later.

Prints `holding` once every idle socket has been opened and every flood has started. A line on
stdin ends the attack: nothing is replaced any more, the sockets still open are left for the
server to close (for at most STOP_LIMIT_S, after which we close them ourselves and say so), and
the record of every socket is printed as JSON (times are time.monotonic).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import common  # noqa: F401, I001 - sets sys.path for `console`
from probe_server import LagProbe

from console.audio_codec import FRAME_MS, silence
from console.telephony import twilio_protocol as tp

OPEN_PER_S = 250.0
OPENING_AT_ONCE = 50
REDIAL_S = 1.0
RETRY_S = 0.5  # after a refused open (e.g. 503 at the socket cap)
STOP_LIMIT_S = 15.0  # 3x the default start deadline
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
FRAME_S = FRAME_MS / 1000


class OpenPacer:
    """At most `per_s` opens a second, spaced evenly."""

    def __init__(self, per_s: float) -> None:
        self._gap = 1.0 / per_s
        self._next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        slot, self._next = max(now, self._next), max(now, self._next) + self._gap
        if slot > now:
            await asyncio.sleep(slot - now)  # the pace itself


class Attack:
    def __init__(self, url: str, idle: int, floods: int, speedup: int) -> None:
        self.url, self.idle, self.floods, self.speedup = url, idle, floods, speedup
        self.stopping = asyncio.Event()
        self.pacer = OpenPacer(OPEN_PER_S)
        self.opening = asyncio.Semaphore(OPENING_AT_ONCE)
        self.idle_lives: list[list[Any]] = []  # [opened, closed, how the server ended it]
        self.open_now: dict[int, float] = {}  # idle sockets open at this moment: id -> opened
        self.open_failures: Counter[str] = Counter()
        self.flood_sessions: list[dict[str, Any]] = []
        self.first_opens = 0
        self.floods_started = 0
        self.holding = asyncio.Event()

    # ---- idle sockets -------------------------------------------------------------------

    async def hold_idle(self, session: aiohttp.ClientSession, slot: int) -> None:
        while not self.stopping.is_set():
            ws = await self._open(session)
            if ws is None:
                await asyncio.sleep(RETRY_S)  # the retry pace of a patient attacker
                continue
            opened = time.monotonic()
            self.open_now[slot] = opened
            self._count_first_open()
            async with ws:
                with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                    await ws.send_str(tp.build_connected())  # (closed already: receive says so)
                message = await ws.receive()  # only the server ends it
            self.idle_lives.append([opened, time.monotonic(), message.type.name])
            del self.open_now[slot]

    async def _open(self, session: aiohttp.ClientSession) -> Any:
        await self.pacer.wait()
        async with self.opening:
            try:
                return await session.ws_connect(self.url)
            except aiohttp.WSServerHandshakeError as refused:
                self.open_failures[f"http-{refused.status}"] += 1
            except (aiohttp.ClientError, OSError) as error:
                self.open_failures[type(error).__name__] += 1
        return None

    def _count_first_open(self) -> None:
        self.first_opens += 1
        self._maybe_holding()

    def _maybe_holding(self) -> None:
        if self.first_opens >= self.idle and self.floods_started >= self.floods:
            self.holding.set()

    # ---- floods -------------------------------------------------------------------------

    async def flood(self, session: aiohttp.ClientSession) -> None:
        while not self.stopping.is_set():
            try:
                self.flood_sessions.append(await self._flood_once(session))
            except (aiohttp.ClientError, OSError) as error:
                self.open_failures[f"flood-{type(error).__name__}"] += 1
            if not self.stopping.is_set():
                await asyncio.sleep(REDIAL_S)  # the attacker's redial pace

    async def _flood_once(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        call_sid, stream_sid = "CA" + secrets.token_hex(16), "MZ" + secrets.token_hex(16)
        account = "AC" + secrets.token_hex(16)
        async with session.ws_connect(self.url) as ws:
            await ws.send_str(tp.build_connected())
            await ws.send_str(tp.build_start(stream_sid, call_sid, account, {}, 1))
            started, sent = time.monotonic(), [0]
            self.floods_started += 1
            self._maybe_holding()
            sending = asyncio.create_task(self._send_flood(ws, stream_sid, sent),
                                          name="flood-sender")
            try:
                while (message := await ws.receive()).type not in CLOSED:
                    pass  # the greeting: a flood does not listen
            finally:
                sending.cancel()
        code = message.data if message.type is aiohttp.WSMsgType.CLOSE else None
        return {"started": started, "closed": time.monotonic(), "frames": sent[0],
                "code": code, "reason": message.extra or message.type.name}

    async def _send_flood(self, ws: aiohttp.ClientWebSocketResponse, stream_sid: str,
                          sent: list[int]) -> None:
        """SPEEDUP frames every 20 ms, on absolute deadlines so a slow tick does not slow it."""
        frame, t0, tick = silence(FRAME_MS), time.monotonic(), 0
        try:
            while True:
                for _ in range(self.speedup):
                    sent[0] += 1
                    await ws.send_str(tp.build_inbound_media(
                        stream_sid, frame, sent[0] + 1, sent[0], sent[0] * FRAME_MS))
                tick += 1
                await asyncio.sleep(max(0.0, t0 + tick * FRAME_S - time.monotonic()))
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            return  # closed under us: this flood is over

    # ---- the whole attack ---------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> dict[str, Any]:
        probe = LagProbe()
        probing = asyncio.create_task(probe.run(), name="attacker-lag-probe")
        connector = aiohttp.TCPConnector(limit=0)  # the default 100 would cap the idle sockets
        async with aiohttp.ClientSession(connector=connector) as session:
            tasks = [asyncio.create_task(self.hold_idle(session, n), name=f"idle-{n}")
                     for n in range(self.idle)]
            tasks += [asyncio.create_task(self.flood(session), name=f"flood-{n}")
                      for n in range(self.floods)]
            announcing = asyncio.create_task(self._announce(), name="announce-holding")
            await stop.wait()
            stopped = time.monotonic()
            self.stopping.set()
            _, left = await asyncio.wait(tasks, timeout=STOP_LIMIT_S)
            still_open = len(self.open_now)
            for task in [*left, announcing]:
                task.cancel()
            await asyncio.gather(*left, announcing, return_exceptions=True)
        probing.cancel()
        return {"idle_lives": self.idle_lives, "idle_left_open": still_open,
                "open_failures": dict(self.open_failures), "floods": self.flood_sessions,
                "stopped": stopped, "loop_lag_ms": probe.summary()}

    async def _announce(self) -> None:
        await self.holding.wait()
        print("holding", flush=True)


async def _stdin_line(stop: asyncio.Event) -> None:
    await asyncio.to_thread(sys.stdin.readline)
    stop.set()


async def main(url: str, idle: int, floods: int, speedup: int) -> None:
    stop = asyncio.Event()
    reading = asyncio.create_task(_stdin_line(stop), name="stop-on-stdin")
    result = await Attack(url, idle, floods, speedup).run(stop)
    await reading
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    os.nice(19)  # see the docstring: the good callers and the fakes come first on this core
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
