"""Warm transfer over the real server (issue 15): our runtime, a simulated Twilio caller, the real
`twilio` SDK against the fake Twilio REST with its conference flow, which sends its webhooks
(answer, status, hold) signed to our server as Twilio would."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest

from console.simulate.caller import SimulatedCaller, Utterance
from console.telephony.conference import room
from console.warm import WELCOME_BACK
from tests.fakes.deepgram_fake import silence
from tests.integration.conftest import PUBLIC_URL, Watch, spoken
from tests.recording_check import read_stereo, sound_runs

pytestmark = pytest.mark.timeout(30)

TARGET = "+15550003333"
FIRST_WORDS = "I was charged twice on my bill"


async def _on_hold(cloud: Any, watch: Watch, *, talk: bool = True) -> tuple[str, str]:
    """A caller asks the agent something (or, without `talk`, just hears the greeting), then the
    operator warm-transfers them to TARGET. Returns (the caller's call SID, the target leg's SID)
    once the caller is on hold."""
    cloud.twilio.route_webhooks(PUBLIC_URL, cloud.runtime.server.url)
    cloud.deepgram.script = [FIRST_WORDS]
    # The caller stays on the line (awaiting the answer, or quiet) until Twilio moves the call.
    caller = cloud.caller(spoken() if talk else Utterance(silence(15_000), wait_for_reply=False))
    sid = caller.options.call_sid
    call = asyncio.create_task(caller.run(), name="first-stream")
    cloud.twilio.on_moved[sid] = call.cancel  # Twilio ends the stream: the caller sends `stop`
    if talk:  # the operator steps in as the agent starts on its answer
        await watch.until(lambda: watch.of("TurnCompleted", role="caller"))
    else:
        await watch.until(lambda: watch.of("TurnCompleted", role="agent"))  # the greeting
    await cloud.runtime.control.warm_transfer(sid, TARGET, "console", "billing dispute")
    await watch.until(lambda: watch.of("WarmTransferHolding"))
    with contextlib.suppress(asyncio.CancelledError):
        await call
    [leg] = cloud.twilio.created(TARGET)
    return sid, leg.sid


async def test_a_warm_transfer_briefs_the_target_first_then_joins_them_with_the_caller(cloud):
    watch = Watch(cloud.runtime.bus)
    sid, leg = await _on_hold(cloud, watch)
    conferences = cloud.twilio.conferences
    assert conferences.leg(sid).timeline == [("joined", room(sid)), ("waiting", room(sid))]
    hold_url = conferences.leg(sid).wait_url
    assert hold_url == f"{PUBLIC_URL}/warm/hold?call={sid}"
    assert watch.of("CallEnded") == []  # on hold is not over

    status, _ = await cloud.twilio.answer(leg)

    assert status == 200
    target = conferences.leg(leg)
    assert [what for what, _ in target.timeline] == ["said", "joined", "connected"]
    [brief] = target.heard()
    assert "Reason: billing dispute." in brief and "1 5 5 5 0 0 0 1 1 1 1" in brief
    assert FIRST_WORDS in brief
    assert conferences.leg(sid).timeline[-1] == ("connected", room(sid))
    await watch.until(lambda: watch.of("CallEnded"))
    assert [e.reason for e in watch.of("CallEnded")] == ["warm-transferred"]
    assert [e.target for e in watch.of("WarmTransferConnected")] == [TARGET]
    assert watch.of("AlertRaised") == []
    # The hold line the caller heard meanwhile comes from our signed hold route.
    status, hold = await cloud.twilio.webhooks.post(hold_url, {"CallSid": sid})
    assert status == 200 and cloud.runtime.settings.warm.hold_line in hold
    # A (signed) outcome from any leg but the target's is refused: it cannot act for another.
    status_url = f"{PUBLIC_URL}/warm/status?call={sid}"
    other = {"CallSid": "CA" + "8" * 32, "CallStatus": "busy"}
    assert (await cloud.twilio.webhooks.post(status_url, other))[0] == 409


async def test_no_answer_brings_the_caller_back_to_the_agent_with_the_conversation_intact(cloud):
    watch = Watch(cloud.runtime.bus)
    sid, leg = await _on_hold(cloud, watch)

    assert await cloud.twilio.end(leg, "no-answer") == 200

    back = await cloud.twilio.wait_for_request(lambda r: r.sid == sid and "Url" in r.form)
    assert back.form["Url"] == f"{PUBLIC_URL}/voice"
    [alert] = watch.of("AlertRaised")
    assert alert.level == "warning" and TARGET in alert.message and "no-answer" in alert.message
    assert [(e.target, e.outcome) for e in watch.of("WarmTransferReturned")] == [(TARGET,
                                                                                  "no-answer")]
    # Twilio follows the redirect: /voice, then a new media stream of the same call.
    cloud.deepgram.script = ["Then can you fix it"]
    cloud.deepgram.opts.ms_per_char = 5.0  # the lines said live (welcome back, the answer) short
    again: SimulatedCaller = cloud.caller(spoken(), call_sid=sid)
    await again.run()
    await watch.until(lambda: watch.of("CallEnded"))
    assert [e.reason for e in watch.of("CallEnded")] == ["stream-stopped"]  # one call, one end
    messages = cloud.groq.requests[-1].messages
    said = [(m["role"], m["content"]) for m in messages if m["role"] != "system"]
    # What was said before the transfer is still there, then the line saying it is back.
    assert [text for role, text in said if role == "user"] == [FIRST_WORDS, "Then can you fix it"]
    assert said[-2:] == [("assistant", WELCOME_BACK), ("user", "Then can you fix it")]
    assert again.log.turn_starts  # the caller heard the agent again
    # One recording for the whole call: what the caller heard after coming back is in it too.
    await watch.until(lambda: watch.of("RecordingSaved"))
    [saved] = watch.of("RecordingSaved")
    _, heard = await asyncio.to_thread(read_stereo, saved.path)
    last_sound = sound_runs(heard)[-1][1]
    assert len(heard) - last_sound < 8000, "nothing heard after the return was recorded"


async def test_warm_transfer_webhooks_refuse_unsigned_or_unknown_transfers(cloud):
    cloud.twilio.route_webhooks(PUBLIC_URL, cloud.runtime.server.url)
    unknown = "CA" + "7" * 32
    url = f"{PUBLIC_URL}/warm/status?call={unknown}"
    status, _ = await cloud.twilio.webhooks.post(url, {"CallSid": unknown, "CallStatus": "busy"})
    assert status == 409  # signed, but no warm transfer of that call is in progress
    local = f"{cloud.runtime.server.url}/warm/answer?call={unknown}"
    async with aiohttp.ClientSession() as http, http.post(local, data={"CallSid": unknown}) as r:
        assert r.status == 403  # not signed by Twilio


async def test_a_caller_who_hangs_up_on_hold_ends_the_call_and_calls_the_target_off(cloud):
    watch = Watch(cloud.runtime.bus)
    sid, leg = await _on_hold(cloud, watch, talk=False)

    await cloud.twilio.hang_up(sid)  # Twilio: participant-leave, to the conference's callback

    await watch.until(lambda: watch.of("CallEnded"))
    assert [e.reason for e in watch.of("CallEnded")] == ["caller-hung-up-on-hold"]
    called_off = await cloud.twilio.wait_for_request(lambda r: r.sid == leg)
    assert called_off.form == {"Status": "canceled"}
    assert watch.of("AlertRaised") == []  # nobody is on hold: no "take the call"
    # Its no-answer, coming later, finds no transfer any more.
    assert await cloud.twilio.end(leg, "no-answer") == 409
