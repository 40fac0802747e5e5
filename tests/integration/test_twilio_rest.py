"""TwilioRest with the real twilio client pointed at a loopback FakeTwilioRest."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest

from console.telephony.twilio_rest import TwilioRest, TwilioRestError, dial_twiml, hangup_twiml
from tests.fakes.twilio_rest_fake import FakeTwilioRest

CALL = "CA" + "1" * 32
NUMBER = "+15550001111"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilioRest]:
    async with FakeTwilioRest() as f:
        yield f


@pytest.fixture
async def rest(fake: FakeTwilioRest) -> AsyncIterator[TwilioRest]:
    client = TwilioRest(fake.account_sid, fake.auth_token, fake.base_url, timeout_s=1.0)
    yield client
    await client.aclose()


async def test_redirect_posts_the_twiml_form_with_basic_auth(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    fake.add_call(CALL)
    twiml = dial_twiml("+15559998888", caller_id="+15550002222")

    await rest.redirect(CALL, twiml)

    seen = await fake.wait_for_request(lambda r: r.kind == "call-update")
    assert seen.path == f"/2010-04-01/Accounts/{fake.account_sid}/Calls/{CALL}.json"
    assert seen.form == {"Twiml": twiml}
    assert seen.authorized and seen.status == 200
    assert fake.calls[CALL].twiml == twiml


async def test_the_fake_refuses_a_wrong_token(fake: FakeTwilioRest) -> None:
    fake.add_call(CALL)
    wrong = TwilioRest(fake.account_sid, "not-the-token", fake.base_url, timeout_s=1.0)
    try:
        with pytest.raises(TwilioRestError) as raised:
            await wrong.redirect(CALL, hangup_twiml())
    finally:
        await wrong.aclose()

    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert "not-the-token" not in str(raised.value)
    credentials = base64.b64encode(f"{fake.account_sid}:not-the-token".encode()).decode()
    assert credentials not in str(raised.value)


async def test_redirect_to_a_url_sends_url_and_method(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    fake.add_call(CALL)

    await rest.redirect_url(CALL, "https://example.test/voice")

    assert fake.calls[CALL].history == [{"Url": "https://example.test/voice", "Method": "POST"}]


async def test_hang_up_completes_a_live_call(fake: FakeTwilioRest, rest: TwilioRest) -> None:
    fake.add_call(CALL)

    assert await rest.hang_up(CALL) is True

    assert fake.calls[CALL].status == "completed"
    assert fake.requests[0].form == {"Status": "completed"}


async def test_hang_up_on_a_call_twilio_does_not_know_returns_false(rest: TwilioRest) -> None:
    assert await rest.hang_up("CA" + "9" * 32) is False


async def test_any_call_sid_is_known_when_the_fake_accepts_any_call(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    fake.accept_any_call = True

    assert await rest.hang_up("CA" + "7" * 32) is True


async def test_a_server_error_raises_twilio_rest_error_with_status_and_code(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    fake.add_call(CALL)
    fake.fail_next(1, status=500)

    with pytest.raises(TwilioRestError) as raised:
        await rest.hang_up(CALL)

    assert (raised.value.status, raised.value.code) == (500, 20500)
    assert len(fake.requests) == 1, "no retries here: the triage code owns them"
    assert await rest.hang_up(CALL) is True, "only the next request failed"


async def test_a_twilio_that_is_down_raises_503(fake: FakeTwilioRest, rest: TwilioRest) -> None:
    fake.down = True

    with pytest.raises(TwilioRestError) as raised:
        await rest.find_number(NUMBER)

    assert (raised.value.status, raised.value.code) == (503, 20503)


async def test_find_number_and_set_voice_url_round_trip(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    stored = fake.add_number(NUMBER, voice_url="https://old.example.test/voice")

    found = await rest.find_number(NUMBER)
    assert found == {
        "sid": stored["sid"],
        "phone_number": NUMBER,
        "voice_url": "https://old.example.test/voice",
        "voice_method": "POST",
    }
    await rest.set_voice_url(stored["sid"], "https://abc.ngrok.app/voice", method="GET")

    assert await rest.find_number(NUMBER) == {
        **found,
        "voice_url": "https://abc.ngrok.app/voice",
        "voice_method": "GET",
    }
    assert fake.requests[0].query["PhoneNumber"] == NUMBER


async def test_find_number_returns_none_for_a_number_not_on_the_account(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    fake.add_number("+15550009999")

    assert await rest.find_number(NUMBER) is None


async def test_a_hung_twilio_raises_quickly_instead_of_hanging_the_transfer(
    fake: FakeTwilioRest,
) -> None:
    fake.add_call(CALL)
    fake.hang_s = 5.0
    rest = TwilioRest(fake.account_sid, fake.auth_token, fake.base_url, timeout_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(TwilioRestError) as raised:
            await rest.redirect(CALL, hangup_twiml())
        elapsed = loop.time() - started
    finally:
        await rest.aclose()

    assert raised.value.status == 0
    assert elapsed < 1.0


async def test_an_unreachable_twilio_raises_with_status_zero(fake: FakeTwilioRest) -> None:
    base_url = fake.base_url
    await fake.stop()
    rest = TwilioRest(fake.account_sid, fake.auth_token, base_url, timeout_s=1.0)
    try:
        with pytest.raises(TwilioRestError) as raised:
            await rest.hang_up(CALL)
    finally:
        await rest.aclose()

    assert raised.value.status == 0 and raised.value.code is None


def test_dial_twiml_says_then_dials_with_caller_id_timeout_and_action() -> None:
    twiml = dial_twiml(
        "+15559998888",
        say="Connecting you now.",
        caller_id="+15550002222",
        timeout_s=15,
        action_url="https://abc.ngrok.app/dial-status",
    )

    assert twiml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Connecting you now.</Say>'
        '<Dial action="https://abc.ngrok.app/dial-status" callerId="+15550002222" '
        'method="POST" timeout="15"><Number>+15559998888</Number></Dial></Response>'
    )


def test_dial_twiml_leaves_out_what_was_not_given() -> None:
    assert dial_twiml("+15559998888") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Dial timeout="20"><Number>+15559998888</Number></Dial></Response>'
    )


def test_hangup_twiml_is_a_single_hangup_verb() -> None:
    assert hangup_twiml() == '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'
