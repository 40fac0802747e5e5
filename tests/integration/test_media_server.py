"""The media server over real sockets, driven by the simulated caller and raw peers."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET

import aiohttp
import pytest

from console.telephony import twilio_protocol as tp
from tests.integration.conftest_telephony import (
    CALL_SID,
    PUBLIC_URL,
    STREAM_SID,
    TOKEN,
    HandlerScript,
    media_message,
    raw_socket,
    signature_for,
    telephony_servers,
)


@pytest.fixture
async def telephony():
    async with telephony_servers() as start:
        yield start


VOICE_FORM = {
    "CallSid": "CA" + "1" * 32,
    "From": "+15551230000",
    "To": "+15559870000",
    "CallStatus": "ringing",
}


async def _post_voice(harness, headers=None):
    async with aiohttp.ClientSession() as session:
        async with session.post(
            harness.server.url + "/voice", data=VOICE_FORM, headers=headers or {}
        ) as response:
            return response.status, await response.text(), response.content_type


def _stream(twiml: str) -> ET.Element:
    return ET.fromstring(twiml).find("./Connect/Stream")


async def test_voice_webhook_without_a_signature_is_refused_when_a_token_is_set(telephony):
    harness = await telephony(twilio_auth_token=TOKEN, public_url=PUBLIC_URL)
    status, _, _ = await _post_voice(harness)
    assert status == 403


async def test_voice_webhook_signed_for_the_public_url_gets_stream_twiml(telephony):
    harness = await telephony(twilio_auth_token=TOKEN, public_url=PUBLIC_URL)
    signature = signature_for(PUBLIC_URL + "/voice", VOICE_FORM)
    status, body, content_type = await _post_voice(harness, {"X-Twilio-Signature": signature})
    assert (status, content_type) == (200, "text/xml")
    stream = _stream(body)
    assert stream.get("url") == "wss://abc.ngrok.app/media"
    parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    ticket = parameters.pop("ticket")  # binds the stream to this call (test_admission.py)
    assert parameters == {"caller": "+15551230000", "called": "+15559870000"}
    assert len(ticket) >= 32


async def test_voice_webhook_signed_for_the_local_address_is_refused(telephony):
    harness = await telephony(twilio_auth_token=TOKEN, public_url=PUBLIC_URL)
    signature = signature_for(harness.server.url + "/voice", VOICE_FORM)
    status, _, _ = await _post_voice(harness, {"X-Twilio-Signature": signature})
    assert status == 403


async def test_without_a_token_the_webhook_answers_with_a_stream_on_the_host_it_was_called_at(
    telephony,
):
    harness = await telephony()
    status, body, _ = await _post_voice(harness)
    assert status == 200
    assert _stream(body).get("url") == f"wss://127.0.0.1:{harness.server.port}/media"


async def test_media_upgrade_without_a_signature_is_refused_before_upgrading(telephony):
    harness = await telephony(twilio_auth_token=TOKEN, public_url=PUBLIC_URL)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(harness.server.media_url)
    assert refused.value.status == 403
    summary = await harness.caller(auth_token="wrong-token").run()
    assert not summary["connected"] and "403" in summary["errors"][0]
    assert harness.handlers == []


async def test_a_signed_call_connects_and_the_handler_gets_the_start_parameters(telephony):
    harness = await telephony(twilio_auth_token=TOKEN, public_url=PUBLIC_URL)
    caller = harness.caller(from_number="+15550009999", dtmf="1")
    summary = await caller.run()
    assert summary["connected"] and summary["errors"] == []
    handler = harness.handler_for(caller.options.call_sid)
    assert handler.start.stream_sid == caller.options.stream_sid
    assert handler.start.custom_parameters["caller"] == "+15550009999"


async def test_health_reports_live_calls_and_protocol_errors(telephony):
    harness = await telephony()
    async with raw_socket(harness) as ws:
        await ws.send_str("not json")
        await harness.until(lambda: harness.errors("not-json"))
        async with aiohttp.ClientSession() as session:
            async with session.get(harness.server.url + "/health") as response:
                body = await response.json()
    counts = {key: body[key] for key in ("status", "calls", "protocol_errors", "rejected_requests")}
    assert counts == {"status": "ok", "calls": 1, "protocol_errors": 1, "rejected_requests": 0}


async def test_port_zero_binds_a_free_port_and_urls_use_it(telephony):
    harness = await telephony()
    assert harness.server.port > 0
    assert harness.server.url == f"http://127.0.0.1:{harness.server.port}"
    assert harness.server.media_url == f"ws://127.0.0.1:{harness.server.port}/media"


async def test_caller_audio_digits_and_mark_echoes_reach_the_handler_in_order(telephony):
    harness = await telephony(HandlerScript(reply_frames=3))
    caller = harness.caller(dtmf="12#")
    summary = await caller.run()
    handler = harness.handler_for(caller.options.call_sid)
    assert handler.dtmf == ["1", "2", "#"]
    assert handler.marks == ["dtmf-1", "dtmf-2", "dtmf-#"]
    assert summary["frames_received"] == 9 and summary["marks_echoed"] == handler.marks
    assert len(handler.media) == summary["frames_sent"]
    assert handler.stops == ["stream-stopped"]


async def test_stop_ends_the_stream_once_and_the_server_closes_the_socket(telephony):
    harness = await telephony()
    async with raw_socket(harness) as ws:
        await ws.send_str(tp.build_stop(STREAM_SID, "AC", "CA", 9))
        closing = await ws.receive()
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await harness.until(lambda: harness.handlers[0].stops)
    assert harness.handlers[0].stops == ["stream-stopped"]


async def test_a_socket_dropped_without_stop_still_ends_the_stream_exactly_once(telephony):
    harness = await telephony()
    async with raw_socket(harness) as ws:
        await ws.send_str(media_message())
    await harness.until(lambda: harness.handlers[0].stops)
    assert harness.handlers[0].stops == ["socket-closed"]
    assert harness.server.stats.calls_active == 0 and harness.server.stats.calls_total == 1


async def test_writes_after_the_call_ended_return_quietly(telephony):
    harness = await telephony()
    async with raw_socket(harness) as ws:
        await ws.close()
    handler = harness.handlers[0]
    await harness.until(lambda: handler.stops)
    await handler.sender.send_audio(b"\xff" * 160)
    await handler.sender.send_mark("late")
    await handler.sender.send_clear()
    await handler.sender.close("late")
    assert handler.stops == ["socket-closed"]


async def test_concurrent_writes_from_many_tasks_never_interleave_frames(telephony):
    harness = await telephony()
    async with raw_socket(harness) as ws:
        sender = harness.handlers[0].sender
        frames = [bytes([n]) * 160 for n in range(40)]
        await asyncio.gather(*(sender.send_audio(f) for f in frames))
        received = [tp.parse_outbound((await ws.receive()).data) for _ in frames]
    assert sorted(m.payload for m in received) == sorted(frames)


async def test_the_handler_closing_the_stream_ends_the_call_with_its_reason(telephony):
    harness = await telephony()
    async with raw_socket(harness) as ws:
        await harness.handlers[0].sender.close("agent-hung-up")
        closing = await ws.receive()
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1000
    await harness.until(lambda: harness.handlers[0].stops)
    assert harness.handlers[0].stops == ["agent-hung-up"]


async def test_shutdown_stops_each_handler_once_and_closes_with_going_away(telephony):
    harness = await telephony()
    callers = [harness.caller(fast=False, dtmf="1", dtmf_reply_timeout_s=30) for _ in range(2)]
    runs = [asyncio.create_task(c.run(), name=f"caller-{i}") for i, c in enumerate(callers)]
    await harness.until(
        lambda: len(harness.handlers) == 2 and all(h.dtmf for h in harness.handlers)
    )
    await harness.server.stop()
    summaries = await asyncio.gather(*runs)
    assert [s["close_code"] for s in summaries] == [1001, 1001]
    assert [s["ended_by"] for s in summaries] == ["server", "server"]
    assert [h.stops for h in harness.handlers] == [["server-shutdown"], ["server-shutdown"]]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(harness.server.url + "/health")


async def test_a_failing_handler_factory_closes_only_that_call(telephony):
    harness = await telephony()

    async def broken_factory(start, sender):
        raise RuntimeError("no session for you")

    good_factory = harness.server.handler_factory
    harness.server.handler_factory = broken_factory
    async with raw_socket(harness, start=False) as ws:
        await ws.send_str(tp.build_start(STREAM_SID, CALL_SID, "AC" + "0" * 32))
        closing = await ws.receive()
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1011
    harness.server.handler_factory = good_factory
    summary = await harness.caller(dtmf="1").run()
    assert summary["marks_echoed"] == ["dtmf-1"]


async def test_health_is_json_with_zero_counts_on_an_idle_server(telephony):
    harness = await telephony()
    async with aiohttp.ClientSession() as session:
        async with session.get(harness.server.url + "/health") as response:
            body = json.loads(await response.text())
    assert {key: body[key] for key in ("status", "calls", "sockets", "protocol_errors",
                                       "rejected_requests", "refused", "sessions_failed")} == {
        "status": "ok", "calls": 0, "sockets": 0, "protocol_errors": 0, "rejected_requests": 0,
        "refused": {}, "sessions_failed": 0}
