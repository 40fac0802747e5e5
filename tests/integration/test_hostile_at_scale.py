"""Hostile input at scale: 10,000 malformed media-stream frames and 500 bad webhook requests hit
the running server (the whole runtime on the cloud stack) while 10 good calls stream in real
time. Nothing crashes, the good calls hear their replies with no error counted against them, and
every bad frame is counted, per socket and in /health.

test_hostile_input.py checks each kind of bad message once, and a hypothesis fuzz beside one
call; this is the same promise under volume, with many sockets at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections import Counter
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

from console.simulate.ringing import ring
from console.telephony import twilio_protocol as tp
from tests.integration.conftest import CloudStack, spoken, start_cloud_stack
from tests.integration.conftest import stop_cloud_stack as stop_stack

pytestmark = pytest.mark.timeout(60)

BAD_FRAMES = 10_000
HOSTILE_SOCKETS = 20  # 500 bad frames each: under the 1000 that close a socket with 1008
STARTED_HOSTILE = 10  # half of them open a real call first, so garbage lands on live calls
GOOD_CALLS = 10
BAD_WEBHOOKS = 500
BURST, BURST_GAP_S = 10, 0.05  # each hostile socket sends ~200 frames/s: ~4000/s in all
EVENTS = ["connected", "start", "media", "dtmf", "mark", "stop", "clear", "", "MEDIA", None]


# ---- hostile frames ---------------------------------------------------------------------------


def _jsonish(rng: random.Random, depth: int = 0) -> Any:
    choices = [None, True, rng.randint(-2**40, 2**40), rng.random(), _junk(rng, 12)]
    if depth < 3:
        choices += [[_jsonish(rng, depth + 1) for _ in range(rng.randint(0, 3))],
                    {_junk(rng, 6): _jsonish(rng, depth + 1) for _ in range(rng.randint(0, 3))}]
    return rng.choice(choices)


JUNK = "abcXYZ019 {}[]\":,\\/é€\u200b\x00\x7f"
SAFE = "abcxyzABC0129+/=-_"  # for URL paths and header values, which the client checks


def _junk(rng: random.Random, most: int, alphabet: str = JUNK) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))


def _near_miss(rng: random.Random) -> str:
    event = rng.choice(EVENTS)
    body = {"event": event, "streamSid": rng.choice(["MZ" + "1" * 32, "", 7, None]),
            str(event): _jsonish(rng)}
    if rng.random() < 0.5:
        body[rng.choice(["sequenceNumber", "media", "mark", "dtmf", "start"])] = _jsonish(rng)
    return json.dumps(body)


def _broken_media(rng: random.Random) -> str:
    payload = rng.choice([
        "@@not base64@@", "", base64.b64encode(bytes(rng.randint(1601, 4000))).decode(),
        base64.b64encode(bytes(rng.randint(1, 159))).decode()[:-1],
    ])
    media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload}
    text = json.dumps({"event": "media", "streamSid": "MZ" + "1" * 32, "media": media})
    return text[: rng.randint(1, len(text))] if rng.random() < 0.3 else text


def _frame(rng: random.Random) -> str | bytes:
    kind = rng.random()
    if kind < 0.15:
        return rng.randbytes(rng.randint(0, 300))  # binary frames are never Twilio's
    if kind < 0.3:
        return _junk(rng, 200)
    if kind < 0.6:
        return _near_miss(rng)
    if kind < 0.9:
        return _broken_media(rng)
    if kind < 0.95:
        return "[" * rng.randint(1000, 30000)
    return json.dumps({"event": "media", "pad": "A" * rng.randint(70_000, 200_000)})  # oversized


def _is_bad(frame: str | bytes) -> bool:
    """Only frames the server must reject whatever the call state (a valid `start` or `stop`
    would change the call, not be counted): exactly one counted error each."""
    if isinstance(frame, bytes):
        return True
    try:
        tp.parse_inbound(frame)
    except tp.ProtocolError:
        return True
    return False


def hostile_frames(count: int, seed: int = 20240611) -> list[str | bytes]:
    rng = random.Random(seed)
    frames: list[str | bytes] = []
    while len(frames) < count:
        if _is_bad(frame := _frame(rng)):
            frames.append(frame)
    return frames


def signed_upgrade(stack: CloudStack) -> dict[str, str]:
    """The hostile peers pass the signature check: the worst case is a leaked auth token."""
    token = stack.runtime.settings.twilio.auth_token
    assert token is not None
    public = stack.runtime.address.stream_url()
    return {SIGNATURE_HEADER: RequestValidator(token.get_secret_value()).compute_signature(
        public, {})}


async def ticket_for(stack: CloudStack, session: aiohttp.ClientSession, call_sid: str) -> str:
    """With the leaked token a peer can ring /voice as Twilio would and get a call's ticket."""
    caller = stack.caller(call_sid=call_sid)
    answer = await ring(session, caller.options)
    return answer.parameters["ticket"]


async def hostile_socket(stack: CloudStack, headers: dict[str, str], frames: list[str | bytes],
                         call_sid: str | None) -> None:
    url = stack.runtime.server.media_url
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        if call_sid:
            ticket = await ticket_for(stack, session, call_sid)
            await ws.send_str(tp.build_connected())
            await ws.send_str(tp.build_start("MZ" + call_sid[2:], call_sid,
                                             stack.runtime.settings.twilio.account_sid or "",
                                             {"ticket": ticket}))
        for index in range(0, len(frames), BURST):
            for frame in frames[index : index + BURST]:
                await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
            await asyncio.sleep(BURST_GAP_S)  # a peer's sending pace, not synchronisation
        await ws.close()


# ---- hostile webhooks -------------------------------------------------------------------------


def bad_webhooks(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Requests no real Twilio sends: unsigned, wrongly signed, wrong method, wrong type, junk
    bodies, unknown paths, oversized bodies."""
    rng = random.Random(seed)
    shapes = [
        lambda: {"method": "POST", "path": "/voice", "data": {"CallSid": _junk(rng, 40)}},
        lambda: {"method": "POST", "path": "/voice", "data": {"From": "+1555"},
                 "headers": {"X-Twilio-Signature": _junk(rng, 28, SAFE)}},
        lambda: {"method": "POST", "path": "/voice", "data": rng.randbytes(200),
                 "headers": {"Content-Type": rng.choice(["application/json", "text/xml"])}},
        lambda: {"method": rng.choice(["GET", "PUT", "DELETE"]), "path": "/voice"},
        lambda: {"method": "POST", "path": "/media", "data": _junk(rng, 50)},
        lambda: {"method": "GET", "path": "/media"},  # no upgrade, no signature
        lambda: {"method": "POST", "path": "/x" + _junk(rng, 10, SAFE)},
    ]
    requests = [rng.choice(shapes)() for _ in range(count - 3)]
    oversized = {"method": "POST", "path": "/voice", "data": b"x" * (2 * 1024 * 1024)}
    return requests + [oversized] * 3


async def send_webhooks(base: str, requests: list[dict[str, Any]]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession() as session:
        for request in requests:
            try:
                async with session.request(request["method"], base + request["path"],
                                           data=request.get("data"),
                                           headers=request.get("headers")) as reply:
                    statuses[reply.status] += 1
            except aiohttp.ClientError:
                statuses[0] += 1  # the server cut an oversized upload short: fine
            await asyncio.sleep(0)  # let the good calls' frames through between requests
    return statuses


# ---- the test ---------------------------------------------------------------------------------


async def health(stack: CloudStack) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(stack.runtime.server.url + "/health") as reply:
            return await reply.json()


@pytest.fixture
async def stack(tmp_path):
    stack, parts = await start_cloud_stack(tmp_path, ms_per_char=5.0)
    stack.groq.reply = "Sure. Noted."
    yield stack
    await stop_stack(parts)


async def test_ten_thousand_bad_frames_and_webhooks_leave_ten_good_calls_untouched(
    stack: CloudStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="console")
    frames = hostile_frames(BAD_FRAMES)
    share = BAD_FRAMES // HOSTILE_SOCKETS
    sids = ["CA" + f"{n:032d}" for n in range(HOSTILE_SOCKETS)]
    headers = signed_upgrade(stack)
    hostile = [hostile_socket(stack, headers, frames[n * share:(n + 1) * share],
                              sids[n] if n < STARTED_HOSTILE else None)
               for n in range(HOSTILE_SOCKETS)]
    good = [stack.caller(spoken(), spoken(), reply_quiet_ms=200) for _ in range(GOOD_CALLS)]
    results = await asyncio.gather(
        *hostile, send_webhooks(stack.runtime.server.url, bad_webhooks(BAD_WEBHOOKS)),
        *(caller.run() for caller in good))
    statuses, summaries = results[HOSTILE_SOCKETS], results[HOSTILE_SOCKETS + 1:]

    stats = stack.runtime.server.stats
    assert stats.protocol_errors == BAD_FRAMES  # every bad frame counted, once
    assert (await health(stack))["protocol_errors"] == BAD_FRAMES
    for sid in sids[:STARTED_HOSTILE]:
        assert stats.errors_by_call[sid] == share
    for caller, summary in zip(good, summaries, strict=True):
        assert summary["errors"] == [] and summary["protocol_errors"] == 0
        assert all(u["reply_latency_ms"] is not None for u in summary["utterances"])
        assert stats.errors_by_call[caller.options.call_sid] == 0
    assert not [s for s in statuses if s >= 500], statuses  # no bad request made it crash
    assert not caplog.records, [r.getMessage() for r in caplog.records][:5]


async def test_rejected_webhooks_are_counted_in_health(stack: CloudStack) -> None:
    before = await health(stack)
    statuses = await send_webhooks(stack.runtime.server.url, [
        {"method": "POST", "path": "/voice", "data": {"From": "+1555"}}] * 3)
    assert statuses == Counter({403: 3})
    after = await health(stack)
    grown = {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], int)}
    assert any(v == 3 for v in grown.values()), after

