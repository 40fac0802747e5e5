"""Hostile load at full scale: 1,000 media sockets that never start a call and 10 that flood
audio at ten times real time, beside 10 good calls, on the whole runtime (the cloud stack, with
Twilio signatures on). The hostile peers hold a leaked auth token (the worst case): their upgrades
are signed, and the floods ring /voice for their calls' tickets like Twilio would.

What a user would notice, asserted: every good call hears every reply with no error counted
against it; every idle socket is shut out, counted either way: closed by the start deadline,
or closed early to make room once MAX_PENDING_SOCKETS of them wait, so the server is back to
holding only the good calls; each flood is closed as a flood (1008
"inbound-flood") and its call ends; nothing is logged at ERROR. How fast the good calls are
answered under this load is a target, not a behaviour: bench/hostile_load.py measures it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
import pytest
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

from console.audio_codec import FRAME_MS, silence
from console.simulate.ringing import ring
from console.telephony import twilio_protocol as tp
from tests.integration.conftest import CloudStack, spoken, start_cloud_stack, stop_cloud_stack

pytestmark = pytest.mark.timeout(60)

IDLE_SOCKETS = 1000
FLOODS = 10
GOOD_CALLS = 10
DEADLINE_S = 1.0  # the start deadline, short so the test is quick (the default is 5 s)
OPENING_AT_ONCE = 50  # idle sockets being opened at a time: a crowd, not a SYN flood
SPEEDUP = 10  # a flood sends 10 frames per 20 ms tick: ten times real time
# Generous: 1,000 opens share this one loop with the calls. The old server never closes them.
IDLE_CLOSED_WITHIN_S = DEADLINE_S + 15.0
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


def signed_upgrade(stack: CloudStack) -> dict[str, str]:
    """What a peer holding the leaked token puts on its media upgrade."""
    token = stack.runtime.settings.twilio.auth_token
    assert token is not None
    validator = RequestValidator(token.get_secret_value())
    return {SIGNATURE_HEADER: validator.compute_signature(stack.runtime.address.stream_url(), {})}


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Until `predicate()` holds, checked every 10 ms: the server's socket and call counters
    publish no event to wait on, and an idle socket's end publishes nothing at all."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - see above
            await asyncio.sleep(0.01)


async def idle_socket(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                      opening: asyncio.Semaphore) -> aiohttp.WSMsgType | int:
    """Opens a media socket, says `connected`, never `start`; returns how it ended (an HTTP
    status when it was refused at the door)."""
    async with opening:
        try:
            ws = await session.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
    async with ws:
        await ws.send_str(tp.build_connected())
        return (await ws.receive()).type  # only the server can end this


async def flood(stack: CloudStack, session: aiohttp.ClientSession) -> tuple[int | None, str]:
    """Becomes a call (ticket and all), then sends audio at 10x real time until the server
    closes it; returns the close code and reason it heard."""
    caller = stack.caller()
    o = caller.options
    answer = await ring(session, o)
    async with session.ws_connect(o.url, headers=caller.signature_headers()) as ws:
        await ws.send_str(tp.build_connected())
        await ws.send_str(tp.build_start(o.stream_sid, o.call_sid, o.account_sid,
                                         answer.parameters, 1))
        sending = asyncio.create_task(_flood_frames(ws, o.stream_sid), name="flood-frames")
        try:
            while (message := await ws.receive()).type not in CLOSED:
                pass  # the greeting's audio: a flood does not listen
        finally:
            sending.cancel()
        return message.data if message.type is aiohttp.WSMsgType.CLOSE else None, message.extra


async def _flood_frames(ws: aiohttp.ClientWebSocketResponse, stream_sid: str) -> None:
    frame, chunk = silence(FRAME_MS), 0
    try:
        while True:
            for _ in range(SPEEDUP):
                chunk += 1
                await ws.send_str(tp.build_inbound_media(stream_sid, frame, chunk + 1, chunk,
                                                         chunk * FRAME_MS))
            await asyncio.sleep(FRAME_MS / 1000)  # the flooder's own pace, not synchronisation
    except (ConnectionError, RuntimeError):
        return  # the server closed the socket under us: the flood is over


@pytest.fixture
async def stack(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path, ms_per_char=5.0,
                                           overrides={"limits_start_deadline_s": DEADLINE_S})
    stack.groq.reply = "Sure. Noted."
    yield stack
    await stop_cloud_stack(parts)


async def test_idle_sockets_and_floods_are_shut_out_while_ten_good_calls_are_answered(
    stack: CloudStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    server = stack.runtime.server
    good = [stack.caller(*(spoken() for _ in range(4)), reply_quiet_ms=200)
            for _ in range(GOOD_CALLS)]
    calls = [asyncio.create_task(c.run(), name=f"good-call-{n}") for n, c in enumerate(good)]
    await until(lambda: server.stats.calls_active == GOOD_CALLS)

    headers, opening = signed_upgrade(stack), asyncio.Semaphore(OPENING_AT_ONCE)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        floods = [asyncio.create_task(flood(stack, session), name=f"flood-{n}")
                  for n in range(FLOODS)]
        idle = [asyncio.create_task(idle_socket(session, server.media_url, headers, opening),
                                    name=f"idle-{n}") for n in range(IDLE_SOCKETS)]
        _, open_still = await asyncio.wait([*idle, *floods], timeout=IDLE_CLOSED_WITHIN_S)
        for task in open_still:
            task.cancel()
    assert not open_still, f"{len(open_still)} hostile sockets still open"
    idle_ends, flood_ends = [t.result() for t in idle], [t.result() for t in floods]

    assert all(end in CLOSED for end in idle_ends)
    pending = stack.runtime.settings.limits.max_pending_sockets
    assert server.stats.refused["start-deadline"] >= pending  # a full share, closed on time
    assert (server.stats.refused["start-deadline"] + server.stats.refused["pending-evicted"]
            == IDLE_SOCKETS)  # each one shut out, and counted once
    assert flood_ends == [(1008, "inbound-flood")] * FLOODS
    assert server.stats.refused["inbound-flood"] == FLOODS
    still_talking = sum(not call.done() for call in calls)
    assert still_talking == GOOD_CALLS  # the scene above happened while every good call was up
    await until(lambda: server.stats.sockets_active == GOOD_CALLS)  # only the good calls left

    summaries = await asyncio.gather(*calls)
    for caller, summary in zip(good, summaries, strict=True):
        assert summary["errors"] == [] and summary["protocol_errors"] == 0
        assert [u["reply_latency_ms"] is not None for u in summary["utterances"]] == [True] * 4
        assert server.stats.errors_by_call[caller.options.call_sid] == 0
    await until(lambda: server.stats.sockets_active == 0 and server.stats.calls_active == 0)
    assert server.stats.refused.keys() <= {"start-deadline", "pending-evicted", "inbound-flood"}
    assert not caplog.records, [r.getMessage() for r in caplog.records][:5]
