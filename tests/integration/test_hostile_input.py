"""Hostile or broken input on a media socket is counted, logged, published and survived."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import threading

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.simulate.caller import Utterance
from console.telephony import twilio_protocol as tp
from tests.integration.conftest_telephony import (
    CALL_SID,
    STREAM_SID,
    TONE,
    HandlerScript,
    media_message,
    raw_socket,
    start_telephony,
    telephony_servers,
)


@pytest.fixture
async def telephony():
    async with telephony_servers() as start:
        yield start


def _media(payload: str) -> str:
    return json.dumps({"event": "media", "streamSid": STREAM_SID, "media": {"payload": payload}})


BAD_INPUTS = [
    ("not-json", "{this is not json"),
    ("not-json", "[" * 20000 + "]" * 20000),
    ("not-object", "[1, 2, 3]"),
    ("unknown-event", '{"event": "teleport", "streamSid": "MZ"}'),
    ("missing-field", '{"event": "media", "streamSid": "MZ"}'),
    ("bad-base64", _media("@@@@")),
    ("bad-payload-size", _media(base64.b64encode(bytes(1601)).decode())),
    ("bad-payload-size", _media("")),
    ("oversized", _media("A" * 100_000)),
    ("binary-frame", b"\x00\x01\x02 raw bytes"),
    ("second-start", tp.build_start("MZ2", "CA2", "AC2")),
    ("stream-mismatch", media_message(stream_sid="MZ" + "9" * 32)),
    ("bad-field", tp.build_dtmf(STREAM_SID, "!", 4)),
]


async def _send(ws: aiohttp.ClientWebSocketResponse, frame: str | bytes) -> None:
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)


async def _still_delivers_media(harness, ws) -> None:
    handler = harness.handler_for(CALL_SID)
    before = len(handler.media)
    await ws.send_str(media_message())
    await harness.until(lambda: len(handler.media) == before + 1)
    assert not ws.closed


@pytest.mark.parametrize(("reason", "frame"), BAD_INPUTS, ids=[r for r, _ in BAD_INPUTS])
async def test_each_bad_message_is_counted_and_neither_its_socket_nor_a_call_beside_it_suffers(
    telephony, reason, frame
):
    harness = await telephony()
    async with raw_socket(harness) as ws:
        good_call = asyncio.create_task(harness.caller(dtmf="1").run(), name="good-call")
        await _send(ws, frame)
        await harness.until(lambda: harness.errors(reason))
        await _still_delivers_media(harness, ws)
        summary = await good_call
    assert summary["errors"] == [] and summary["marks_echoed"] == ["dtmf-1"]
    assert harness.server.stats.errors_by_reason[reason] == 1
    assert harness.server.stats.errors_by_call[CALL_SID] == 1
    assert harness.errors(reason)[0].call_sid == CALL_SID


async def test_media_before_start_is_counted_but_never_becomes_a_call(telephony):
    harness = await telephony()
    async with raw_socket(harness, start=False) as ws:
        await ws.send_str(tp.build_connected())
        await ws.send_str(media_message())
        await ws.send_str(tp.build_start(STREAM_SID, CALL_SID, "AC"))  # read in order: after it
        await harness.until(lambda: harness.handlers)
        await _still_delivers_media(harness, ws)
    assert harness.server.stats.errors_by_reason["before-start"] == 1
    # No call event with an empty call id: the store and the console would show a phantom call.
    assert harness.errors() == [] and dict(harness.server.stats.errors_by_call) == {}


async def test_a_thousand_errors_close_that_socket_with_policy_violation(telephony):
    harness = await telephony(limits_media_rate=0)  # sent at once: the flood limit would come first
    async with raw_socket(harness) as ws:
        for _ in range(1000):
            await ws.send_str("garbage")
        closing = await ws.receive()
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1008
    await harness.until(lambda: harness.handlers[0].stops)
    assert harness.handlers[0].stops == ["protocol-errors"]
    assert harness.server.stats.protocol_errors == 1000
    summary = await harness.caller(dtmf="1").run()
    assert summary["marks_echoed"] == ["dtmf-1"]


async def test_a_frame_beyond_the_socket_limit_closes_only_that_socket(telephony):
    harness = await telephony()
    async with raw_socket(harness) as ws:
        await ws.send_str("x" * (2 * 1024 * 1024))
        closing = await ws.receive()
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1009
    await harness.until(lambda: harness.handlers[0].stops)
    summary = await harness.caller(dtmf="1").run()
    assert summary["marks_echoed"] == ["dtmf-1"]


# ---- fuzz ---------------------------------------------------------------------------------

_EVENTS = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", ""])
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_NEAR_MISSES = st.builds(
    lambda event, body, extra: json.dumps(
        {"event": event, "streamSid": STREAM_SID, event or "x": body, **extra}
    ),
    _EVENTS,
    _JSONISH,
    st.dictionaries(
        st.sampled_from(["sequenceNumber", "media", "mark", "dtmf"]), _JSONISH, max_size=2
    ),
)
FRAMES = st.one_of(st.text(max_size=200), st.binary(max_size=200), _NEAR_MISSES)


def _ends_the_stream(frame: str | bytes) -> bool:
    """A well-formed `stop` is legitimate and ends the call: the fuzz keeps its socket open."""
    try:
        return isinstance(tp.parse_inbound(frame), tp.Stop)
    except tp.ProtocolError:
        return False


class LoopThread:
    """The server and a real-time call run on a loop in a thread; hypothesis feeds frames from
    the test thread, so the good call keeps its 20 ms cadence during the fuzz."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop")

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def submit(self, job) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(job, self.loop)

    def run(self, job, timeout: float = 10.0):
        return self.submit(job).result(timeout)


def test_fuzzed_frames_never_hurt_the_socket_or_a_live_call_beside_it():
    with LoopThread() as lt:
        harness = lt.run(start_telephony(HandlerScript(reply_frames=10, reply_after_speech=True)))
        session, hostile = lt.run(_open_started(harness))
        speech = Utterance(TONE * 50)  # one second of talking, then the handler replies
        caller = harness.caller(fast=False, utterances=[speech], dtmf="12", reply_quiet_ms=100)
        good_call = lt.submit(caller.run())

        @settings(
            max_examples=200,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(frame=FRAMES)
        def feed(frame):
            if not _ends_the_stream(frame):
                lt.run(_send(hostile, frame))

        feed()
        lt.run(_still_delivers_media(harness, hostile))
        summary = good_call.result(15)
        lt.run(_close(session, hostile))
        lt.run(harness.server.stop())
    assert summary["errors"] == []
    assert summary["marks_echoed"] == ["reply-0", "dtmf-1", "dtmf-2"]
    assert harness.server.stats.errors_by_call[caller.options.call_sid] == 0
    assert harness.server.stats.protocol_errors > 0


async def _open_started(harness) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(harness.server.media_url)
    await ws.send_str(tp.build_connected())
    await ws.send_str(tp.build_start(STREAM_SID, CALL_SID, "AC"))
    await harness.until(lambda: harness.handlers)
    return session, ws


async def _close(session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.close()
    await session.close()
