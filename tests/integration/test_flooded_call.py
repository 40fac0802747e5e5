"""A caller flooding a deaf call: inside the call nothing grows without bound.

The whole runtime on the cloud stack; Deepgram refuses our key and no local recognizer is
installed, so the call's recognizer is gone for the rest of the call (the operator is told and
may take over) and nobody reads the caller's audio. A raw Twilio media socket then sends frames
ten times faster than real time. The call queues none of it (the ear is deafened: a recognizer
that is gone will never read), and the operator is told how much was dropped. A recognizer that
is alive but falls behind keeps a bounded queue instead: tests/unit/test_bounded_queues.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest

from console.audio_codec import FRAME_BYTES
from console.calls.ear import AUDIO_QUEUE_FRAMES
from console.providers.local import stt as local_stt
from console.simulate.ringing import ring
from console.telephony import twilio_protocol as tp
from tests.integration.conftest import Watch, start_cloud_stack, stop_cloud_stack

pytestmark = pytest.mark.timeout(30)

SPEEDUP = 10  # frames per 20 ms tick
FLOOD_FRAMES = AUDIO_QUEUE_FRAMES * 3 // 2  # 15 s of audio in 1.5 s


async def test_a_deaf_call_flooded_at_ten_times_real_time_queues_none_of_it_and_says_so(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(local_stt, "_WEIGHTS_PACKAGE", "no_such_weights_package")
    # The socket's own rate limit (test_admission.py) would close a 10x flood within a second;
    # off here, so the flood reaches the call and its queue's bound is what is tested.
    stack, parts = await start_cloud_stack(tmp_path, overrides={"limits_media_rate": 0})
    watch = Watch(stack.runtime.bus)
    try:
        stack.deepgram.api_key = "revoked-key"  # the fake now refuses ours, as Deepgram would
        caller = stack.caller()
        o = caller.options
        async with aiohttp.ClientSession() as http, http.ws_connect(
            o.url, headers=caller.signature_headers()
        ) as ws:
            answer = await ring(http, o)  # /voice's TwiML: the stream's ticket
            await ws.send_str(tp.build_connected())
            await ws.send_str(tp.build_start(o.stream_sid, o.call_sid, o.account_sid,
                                             answer.parameters, 1))
            await watch.until(lambda: watch.of("ProviderDegraded"))  # the recognizer is gone
            ear = stack.runtime.control.get(o.call_sid).ear
            most_waiting = await flood(ws, o.stream_sid, lambda: ear.frames_waiting)
            await ws.send_str(tp.build_stop(o.stream_sid, o.account_sid, o.call_sid, 2))
            await watch.until(lambda: watch.of("CallEnded"))
    finally:
        await stop_cloud_stack(parts)
    assert most_waiting == 0  # (after the call, only its end marker waits)
    assert ear.frames_unheard >= FLOOD_FRAMES  # the flood, and whatever came before it
    dropped = watch.of("AudioDropped")
    assert [(e.where, e.frames) for e in dropped] == [("deaf", ear.frames_unheard)]  # type: ignore[attr-defined]


async def flood(ws: aiohttp.ClientWebSocketResponse, stream_sid: str,
                waiting: Callable[[], int]) -> int:
    """Send FLOOD_FRAMES of caller audio at SPEEDUP x real time; the most the call held."""
    frame, most = tp.build_media(stream_sid, b"\xff" * FRAME_BYTES), 0
    for _ in range(FLOOD_FRAMES // SPEEDUP):
        for _ in range(SPEEDUP):
            await ws.send_str(frame)
        await asyncio.sleep(0.02)  # the flood's own clock: one tick of 20 ms
        most = max(most, waiting())
    return most
