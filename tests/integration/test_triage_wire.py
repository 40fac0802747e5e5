"""Emergency triage and operator control on the wire: our server, a simulated caller, the real
Twilio SDK against the fake Twilio REST (and the fake Deepgram/Groq behind the agent)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from console.calls import triage
from console.calls.deaf import DEAF_LINE
from console.calls.triage import COMPANY_LINES, KEEP_COMPANY_LINE
from console.simulate.caller import Utterance
from tests.fakes.deepgram_fake import silence
from tests.integration.conftest import EMERGENCY, PUBLIC_URL, spoken
from tests.speech import monologue


async def until_seen(cloud, predicate, within_s: float) -> None:
    """Until `predicate` holds, looked at each time the call publishes an event."""
    changed = asyncio.Event()
    cloud.runtime.bus.subscribe(lambda _event: changed.set())
    async with asyncio.timeout(within_s):
        while not predicate():
            changed.clear()
            await changed.wait()


TRIGGER_REPLY = "I understand. Please stay calm EMERGENCY_DETECTED while I get help."


@pytest.fixture(autouse=True)
def quick_company(monkeypatch):
    monkeypatch.setattr(triage, "COMPANY_PAUSE_S", 0.3)


# The medical intake profile lists "chest pain" among the caller's emergency phrases.
MEDICAL = {"custom_parameters": {"caller": "+15550001111", "profile": "medical_intake"}}


async def test_agent_trigger_redirects_to_the_fallback_number_and_never_speaks_it(cloud):
    cloud.deepgram.script = ["my father collapsed"]
    cloud.groq.reply = TRIGGER_REPLY
    await cloud.caller(spoken(), reply_timeout_s=1.5).run()
    request = await cloud.twilio.wait_for_request(lambda r: "Twiml" in r.form, 3.0)
    assert f"<Number>{EMERGENCY[0]}</Number>" in request.form["Twiml"]
    assert "<Dial" in request.form["Twiml"] and "/dial-status?call=" in request.form["Twiml"]
    spoken_texts = [r.text for r in cloud.deepgram.tts_requests]
    assert "I understand." in spoken_texts
    assert not [t for t in spoken_texts if "calm" in t or "EMERGENCY" in t]


async def test_a_caller_phrase_on_an_interim_redirects_before_the_turn_ends(cloud):
    cloud.deepgram.script = ["I have chest pain and my arm hurts"]
    # 3 s for eight words (~2.7 a second, a natural pace): on the live cadence interims come about
    # once a second, so in 1.5 s of speech "chest pain" would first show in the final. Real
    # speech with no pause long enough to end the sound (a steady tone would be learnt as line
    # noise after 2 s, and its end would finalize the words early).
    talk = Utterance(mulaw=monologue(3.0, gaps_ms=(0, 100)) + silence(40))
    await cloud.caller(talk, reply_timeout_s=1.5, **MEDICAL).run()
    await cloud.twilio.wait_for_request(lambda r: "Twiml" in r.form, 3.0)
    assert cloud.groq.requests == []  # the agent never answered: a person is coming
    detected = cloud.events("EmergencyDetected")[0]
    assert (detected.source, detected.phrase) == ("caller", "chest pain")
    before = cloud.seen[: cloud.seen.index(detected)]
    assert not [e for e in before if e.kind == "CallerTranscribed" and e.final]  # an interim did it


async def test_twilio_failing_twice_is_retried_until_the_redirect_lands(cloud):
    cloud.deepgram.script = ["I can't breathe"]
    cloud.twilio.fail_next(2, 500)
    await cloud.caller(spoken(), reply_timeout_s=2.5).run()
    await cloud.twilio.wait_for_request(lambda r: "Twiml" in r.form and r.status == 200, 3.0)
    attempts = [(e.attempt, e.ok) for e in cloud.events("TransferAttempted")]
    assert attempts == [(1, False), (2, False), (3, True)]


async def test_twilio_down_raises_a_critical_alert_and_keeps_the_caller_company(cloud):
    cloud.deepgram.script = ["chest pain"]
    cloud.twilio.down = True
    prepared = len(cloud.deepgram.tts_requests)  # synthesized at start-up
    # On the line long enough for two company lines (~4 s each, 1.2 s apart) on a loaded machine.
    stays_on_the_line = Utterance(mulaw=silence(7000), wait_for_reply=False)
    caller = cloud.caller(spoken(), stays_on_the_line, reply_timeout_s=4.0, **MEDICAL)
    task = asyncio.create_task(caller.run())
    # The company line is prepared audio (no TTS request when said): count what was said.
    await until_seen(cloud, lambda: sum(KEEP_COMPANY_LINE == e.text
                                        for e in cloud.events("AgentSpoke")) >= 2, 10)
    # The alert comes after the third refused redirect (~1.5 s, more on a loaded machine): in
    # whichever order the two happen, both must.
    await until_seen(cloud, lambda: cloud.events("AlertRaised"), 5)
    assert cloud.events("AlertRaised")[0].level == "critical"
    said_then = [r.text for r in cloud.deepgram.tts_requests[prepared:]]
    assert KEEP_COMPANY_LINE not in said_then  # from prepared audio: never waits on the TTS
    # Every line of the safety path was prepared at start-up, for every profile.
    for line in (*COMPANY_LINES, DEAF_LINE):
        assert cloud.runtime.greetings.cached("medical_intake", line) is not None, line
    await cloud.runtime.control.take_over(caller.options.call_sid, "test")
    await task


async def test_an_unanswered_dial_moves_on_to_the_second_number(cloud):
    cloud.deepgram.script = ["chest pain"]
    caller = cloud.caller(spoken(), reply_timeout_s=1.5, **MEDICAL)
    await caller.run()
    await cloud.twilio.wait_for_request(lambda r: "Twiml" in r.form, 3.0)
    twiml = await post_dial_status(cloud, caller.options.call_sid, "no-answer")
    assert f"<Number>{EMERGENCY[1]}</Number>" in twiml
    outcomes = [e.outcome for e in cloud.events("TransferFinished")]
    assert outcomes == ["no-answer"]


async def post_dial_status(cloud, call_sid: str, status: str) -> str:
    """What Twilio does when <Dial> ends: a signed POST to the action URL."""
    path = f"/dial-status?call={call_sid}"
    form = {"CallSid": "CA" + "9" * 32, "DialCallStatus": status}
    token = cloud.runtime.settings.twilio.auth_token.get_secret_value()
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + path, form)
    async with aiohttp.ClientSession() as http:
        async with http.post(cloud.runtime.server.url + path, data=form,
                             headers={"X-Twilio-Signature": signature}) as response:
            assert response.status == 200
            return await response.text()


# --- operator control, as the wire sees it ------------------------------------------------------

async def live_call(cloud, **options):
    caller = cloud.caller(spoken(), **options)
    task = asyncio.create_task(caller.run())
    sid = caller.options.call_sid
    await cloud.deepgram.wait_for(lambda: sid in cloud.runtime.control.live_calls(), 5)
    return caller, task, sid


async def test_operator_say_is_spoken_to_the_caller_and_stored(cloud):
    caller, task, sid = await live_call(cloud, reply_timeout_s=3.0)
    await cloud.runtime.control.say(sid, "This is the clinic nurse speaking.", "test")
    assert "This is the clinic nurse speaking." in [r.text for r in cloud.deepgram.tts_requests]
    operator = [e for e in cloud.events("TurnCompleted") if e.role == "operator"]
    assert operator[0].text == "This is the clinic nurse speaking."
    await task


async def test_take_over_silences_the_agent_and_hang_up_reaches_twilio(cloud):
    cloud.deepgram.script = ["hello", "are you there"]
    caller, task, sid = await live_call(cloud, reply_timeout_s=1.0)
    await cloud.runtime.control.take_over(sid, "test")
    await task
    assert cloud.groq.requests == []  # the caller spoke, but the agent stayed silent
    caller2, task2, sid2 = await live_call(cloud, reply_timeout_s=5.0, max_call_s=10.0)
    await cloud.runtime.control.hang_up(sid2, "test")
    await cloud.twilio.wait_for_request(
        lambda r: r.sid == sid2 and r.form.get("Status") == "completed", 5.0)
    await task2
    actions = [(e.action, e.actor) for e in cloud.events("OperatorActed")]
    assert ("take-over", "test") in actions and ("hang-up", "test") in actions


async def test_cold_transfer_sends_a_dial_to_the_profile_target(cloud):
    caller, task, sid = await live_call(cloud, reply_timeout_s=1.0)
    await cloud.runtime.control.transfer(sid, "+15557654321", "test")
    request = await cloud.twilio.wait_for_request(lambda r: "Twiml" in r.form, 3.0)
    assert "<Number>+15557654321</Number>" in request.form["Twiml"]
    await task
