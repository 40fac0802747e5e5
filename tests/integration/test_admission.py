"""Who may become a call, and what a peer may do to stay one: the media server against peers
that forge, replay, hog or flood, on a real socket.

Each test is one finding of the hardening review (docs/faults.md, "Getting in" and "Running
out of things"); it failed on the server as it was then."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator

import aiohttp
import pytest

from console.simulate.options import CallerOptions
from console.simulate.ringing import ring
from console.telephony import twilio_protocol as tp
from console.telephony.server import BUSY_LINE, FAILED_LINE
from tests.integration.conftest_telephony import (
    CALL_SID,
    PUBLIC_URL,
    STREAM_SID,
    TOKEN,
    media_message,
    signature_for,
    telephony_servers,
)

pytestmark = pytest.mark.timeout(20)

ACCOUNT = "AC" + "a" * 32
OTHER_CALL = "CA" + "b" * 32
SIGNED = {"twilio_auth_token": TOKEN, "public_url": PUBLIC_URL, "twilio_account_sid": ACCOUNT}


@pytest.fixture
async def telephony():
    async with telephony_servers() as start:
        yield start


def _options(harness, call_sid: str = CALL_SID) -> CallerOptions:
    return CallerOptions(url=harness.server.media_url, auth_token=TOKEN, call_sid=call_sid,
                         signed_url=harness.server.address.stream_url(), account_sid=ACCOUNT)


async def _ticket(harness, call_sid: str = CALL_SID) -> str:
    async with aiohttp.ClientSession() as session:
        answer = await ring(session, _options(harness, call_sid))
    return answer.parameters["ticket"]


async def _start(harness, call_sid: str = CALL_SID, *, account: str = ACCOUNT,
                 parameters: dict[str, str] | None = None, stream_sid: str = STREAM_SID,
                 ) -> aiohttp.WSMessage:
    """A signed upgrade, then `start`: what the server answers first (a CLOSE if refused)."""
    headers = {"X-Twilio-Signature": signature_for(harness.server.address.stream_url())}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(harness.server.media_url, headers=headers) as ws:
            await ws.send_str(tp.build_connected())
            await ws.send_str(tp.build_start(stream_sid, call_sid, account, parameters or {}))
            await ws.send_str(tp.build_dtmf(stream_sid, "1", 3))  # a started call answers it
            return await ws.receive(timeout=5)


def _refused(message: aiohttp.WSMessage, reason: str) -> bool:
    return (message.type is aiohttp.WSMsgType.CLOSE and message.data == 1008
            and message.extra == reason)


# ---- getting in --------------------------------------------------------------------------------


async def test_a_stream_without_the_ticket_voice_gave_its_call_is_refused(telephony):
    """A captured upgrade signature covers only wss://host/media: without the per-call ticket
    it would open a stream for any call, forever."""
    harness = await telephony(**SIGNED)
    assert _refused(await _start(harness), "no-ticket")
    assert harness.handlers == [] and harness.server.stats.refused["no-ticket"] == 1


async def test_a_ticket_is_good_once_and_only_for_its_own_call(telephony):
    harness = await telephony(**SIGNED)
    other = await _ticket(harness, OTHER_CALL)
    assert _refused(await _start(harness, parameters={"ticket": other}), "no-ticket")
    ticket = await _ticket(harness)
    first = await _start(harness, parameters={"ticket": ticket})
    assert first.type is aiohttp.WSMsgType.TEXT  # the call answered the key
    await harness.until(lambda: harness.handlers and harness.handlers[0].stops)
    assert _refused(await _start(harness, parameters={"ticket": ticket}), "no-ticket")  # replayed
    assert [h.start.call_sid for h in harness.handlers] == [CALL_SID]


async def test_the_ticket_never_reaches_the_call_or_its_records(telephony):
    harness = await telephony(**SIGNED)
    await _start(harness, parameters={"ticket": await _ticket(harness), "caller": "+1555"})
    await harness.until(lambda: harness.handlers)
    assert harness.handlers[0].start.custom_parameters == {"caller": "+1555"}


async def test_a_stream_from_another_twilio_account_is_refused(telephony):
    harness = await telephony(**SIGNED)
    ticket = await _ticket(harness)
    refused = await _start(harness, account="AC" + "0" * 32, parameters={"ticket": ticket})
    assert _refused(refused, "wrong-account") and harness.handlers == []


@pytest.mark.parametrize("call_sid", ["../IncomingPhoneNumbers/PN" + "0" * 32, "CA1",
                                      "CA" + "g" * 32, "CA" + "0" * 32 + "/x", ""])
async def test_a_call_sid_not_shaped_like_twilios_never_becomes_a_call(telephony, call_sid):
    """It would go into REST paths ("../IncomingPhoneNumbers/PN…" turned an idle hang-up into
    a POST on a phone number), file names and the store."""
    harness = await telephony()
    assert _refused(await _start(harness, call_sid), "bad-sid")
    assert harness.handlers == [] and harness.events == []


async def test_a_stream_sid_not_shaped_like_twilios_never_becomes_a_call(telephony):
    harness = await telephony()
    assert _refused(await _start(harness, stream_sid="MZ../../x"), "bad-sid")
    assert harness.handlers == []


async def test_a_second_stream_for_a_live_call_is_refused_and_the_first_keeps_the_call(telephony):
    harness = await telephony()
    first = harness.caller(call_sid=CALL_SID, dtmf="12", dtmf_gap_ms=600)
    running = asyncio.create_task(first.run())
    await harness.until(lambda: harness.handlers)
    assert _refused(await _start(harness), "duplicate-stream")
    summary = await running
    assert summary["marks_echoed"] == ["dtmf-1", "dtmf-2"]  # undisturbed
    assert len(harness.handlers) == 1 and harness.handlers[0].stops == ["stream-stopped"]


# ---- running out of things ---------------------------------------------------------------------


@pytest.fixture
async def idle_socket(telephony) -> AsyncIterator[tuple]:
    harness = await telephony(limits_start_deadline_s=0.3)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(harness.server.media_url) as ws:
            yield harness, ws


async def test_a_socket_that_never_sends_start_is_closed_at_the_deadline(idle_socket):
    harness, ws = idle_socket
    await ws.send_str(tp.build_connected())
    for _ in range(3):  # `connected` again and again does not keep it alive
        await ws.send_str(tp.build_connected())
    message = await ws.receive(timeout=5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR)
    await harness.until(lambda: harness.server.stats.sockets_active == 0)
    assert harness.server.stats.refused["start-deadline"] == 1


async def test_sockets_over_the_cap_are_refused_and_calls_go_on(telephony):
    harness = await telephony(limits_max_sockets=2)
    async with aiohttp.ClientSession() as session:
        held = [await session.ws_connect(harness.server.media_url) for _ in range(2)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(harness.server.media_url)
        assert refused.value.status == 503
        for ws in held:
            await ws.close()
    await harness.until(lambda: harness.server.stats.sockets_active == 0)
    summary = await harness.caller(dtmf="1").run()
    assert summary["marks_echoed"] == ["dtmf-1"]
    assert harness.server.stats.refused["sockets-full"] == 1


async def test_sockets_that_never_start_make_room_for_newcomers_so_calls_still_come_in(
    telephony,
):
    """Someone holding sockets open fills the share of not-yet-started sockets; the one that
    waited longest is closed for each newcomer, so a real call (which starts at once) gets in."""
    harness = await telephony(limits_max_pending_sockets=2)
    async with aiohttp.ClientSession() as session:
        oldest, second = [await session.ws_connect(harness.server.media_url) for _ in range(2)]
        summary = await harness.caller(dtmf="1").run()
        assert summary["marks_echoed"] == ["dtmf-1"]
        assert (await oldest.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE,
                                                          aiohttp.WSMsgType.CLOSED)
        assert not second.closed
    assert harness.server.stats.refused["pending-evicted"] == 1


async def test_at_the_call_cap_voice_says_the_lines_are_busy_and_hangs_up(telephony):
    harness = await telephony(limits_max_calls=1)
    first = harness.caller(call_sid=CALL_SID, dtmf="12", dtmf_gap_ms=600)
    running = asyncio.create_task(first.run())
    await harness.until(lambda: harness.handlers)
    async with aiohttp.ClientSession() as session:
        answer = await ring(session, _options(harness, OTHER_CALL))
    assert answer.refusal == BUSY_LINE  # <Say> then <Hangup>, no <Stream>
    assert _refused(await _start(harness, OTHER_CALL), "calls-full")  # a stream anyway: closed
    assert (await running)["marks_echoed"] == ["dtmf-1", "dtmf-2"]


async def test_a_peer_flooding_audio_faster_than_real_time_is_closed(telephony):
    harness = await telephony(limits_media_rate=2.0, limits_media_burst_s=1.0)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(harness.server.media_url) as ws:
            await ws.send_str(tp.build_connected())
            await ws.send_str(tp.build_start(STREAM_SID, CALL_SID, ACCOUNT))
            for _ in range(500):  # 10 s of audio at once
                await ws.send_str(media_message())
            closing = await ws.receive(timeout=5)
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1008
    await harness.until(lambda: harness.handlers and harness.handlers[0].stops)
    assert harness.handlers[0].stops == ["inbound-flood"]
    assert harness.server.stats.refused["inbound-flood"] == 1


async def test_a_caller_at_real_time_pace_is_never_taken_for_a_flood(telephony):
    harness = await telephony(limits_media_rate=1.2, limits_media_burst_s=0.5)
    caller = harness.caller(fast=False, dtmf="1")
    summary = await caller.run()
    assert summary["marks_echoed"] == ["dtmf-1"] and harness.server.stats.refused == {}


async def test_a_peer_that_stops_reading_is_cut_off_and_its_call_ends(telephony, monkeypatch):
    from console.telephony import server as server_module

    monkeypatch.setattr(server_module, "SEND_TIMEOUT_S", 0.3)
    harness = await telephony()
    reader, writer = await _peer_that_never_reads(harness.server.port)
    try:
        writer.write(_client_frame(tp.build_connected()))
        writer.write(_client_frame(tp.build_start(STREAM_SID, CALL_SID, ACCOUNT)))
        await harness.until(lambda: harness.handlers)
        handler = harness.handlers[0]
        # 10 minutes of agent audio (10 MB) that this peer never reads: the buffers fill up.
        sending = asyncio.create_task(handler.reply("long", frames=30_000))
        await harness.until(lambda: handler.stops, within=15)
        sending.cancel()
    finally:
        writer.close()
    assert handler.stops == ["peer-stopped-reading"]
    await harness.until(lambda: harness.server.stats.sockets_active == 0)
    assert harness.server.stats.calls_active == 0


async def _peer_that_never_reads(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket peer that upgrades, then never reads again. Its receive buffer is fixed
    small (the kernel would otherwise grow it to tens of MB), so the server's sends back up."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /media HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")  # 101 Switching Protocols; nothing is read after
    return reader, writer


def _client_frame(text: str) -> bytes:
    """One masked text frame, as RFC 6455 asks of a client."""
    payload, mask = text.encode(), os.urandom(4)
    size = len(payload)
    length = (bytes([0x80 | size]) if size < 126
              else bytes([0x80 | 126]) + size.to_bytes(2, "big"))
    return bytes([0x81]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# ---- failing visibly ---------------------------------------------------------------------------


async def test_a_call_whose_session_cannot_start_is_alerted_counted_and_apologised_to(telephony):
    harness = await telephony(**SIGNED)

    async def broken(start, sender):
        raise RuntimeError("profile 'dental' has greeting = 42")

    harness.server.handler_factory = broken
    closing = await _start(harness, parameters={"ticket": await _ticket(harness)})
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1011
    [alert] = [e for e in harness.events if e.kind == "AlertRaised"]
    assert alert.call_sid == CALL_SID and alert.level == "critical" and "greeting" in alert.message
    assert harness.server.health()["sessions_failed"] == 1
    # Twilio then asks the <Connect action> what next: the caller hears an apology, not silence.
    assert FAILED_LINE in await _stream_ended(harness, CALL_SID)
    assert "<Say>" not in await _stream_ended(harness, OTHER_CALL)  # other calls just end


async def _stream_ended(harness, call_sid: str) -> str:
    form = {"CallSid": call_sid, "AccountSid": ACCOUNT, "CallStatus": "in-progress"}
    headers = {"X-Twilio-Signature": signature_for(PUBLIC_URL + "/stream-ended", form)}
    async with aiohttp.ClientSession() as session:
        async with session.post(harness.server.url + "/stream-ended", data=form,
                                headers=headers) as reply:
            assert reply.status == 200
            twiml = await reply.text()
    assert ElementTree.fromstring(twiml).find("Hangup") is not None
    return twiml


async def test_voice_names_the_stream_ended_callback_as_its_connect_action(telephony):
    harness = await telephony(**SIGNED)
    form = {"CallSid": CALL_SID, "From": "+1555", "To": "+1666"}
    headers = {"X-Twilio-Signature": signature_for(PUBLIC_URL + "/voice", form)}
    async with aiohttp.ClientSession() as session:
        async with session.post(harness.server.url + "/voice", data=form,
                                headers=headers) as reply:
            connect = ElementTree.fromstring(await reply.text()).find("Connect")
    assert connect is not None and connect.get("action") == PUBLIC_URL + "/stream-ended"
