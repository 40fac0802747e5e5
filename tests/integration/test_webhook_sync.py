"""WebhookSync with the real twilio client (TwilioRest) against a loopback FakeTwilioRest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from console.telephony.twilio_rest import TwilioRest
from console.telephony.webhook_sync import WebhookSync, WebhookSyncError
from tests.fakes.twilio_rest_fake import FakeTwilioRest

pytestmark = pytest.mark.timeout(20)

NUMBER = "+15550001111"
OLD_URL = "https://old.example.com/twilio/voice"
PUBLIC_URL = "https://abc.ngrok.app"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilioRest]:
    async with FakeTwilioRest() as f:
        yield f


@pytest.fixture
async def rest(fake: FakeTwilioRest) -> AsyncIterator[TwilioRest]:
    client = TwilioRest(fake.account_sid, fake.auth_token, fake.base_url, timeout_s=1.0)
    yield client
    await client.aclose()


async def test_pointing_at_the_tunnel_sets_the_voice_webhook_and_returns_the_old_one(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    number = fake.add_number(NUMBER, voice_url=OLD_URL)
    sync = WebhookSync(rest, NUMBER)

    previous = await sync.point_at(PUBLIC_URL + "/")

    assert previous == OLD_URL
    assert number["voice_url"] == "https://abc.ngrok.app/voice"
    assert number["voice_method"] == "POST"
    assert sync.webhook_url == "https://abc.ngrok.app/voice" and sync.pending_restore
    update = await fake.wait_for_request(lambda r: r.kind == "number-update")
    assert update.sid == number["sid"] and update.authorized


async def test_restore_puts_the_old_webhook_back_once_and_is_then_a_no_op(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    number = fake.add_number(NUMBER, voice_url=OLD_URL)
    sync = WebhookSync(rest, NUMBER)
    await sync.point_at(PUBLIC_URL)

    assert await sync.restore() is True
    assert number["voice_url"] == OLD_URL and number["voice_method"] == "POST"
    updates = len([r for r in fake.requests if r.kind == "number-update"])

    assert await sync.restore() is True
    assert len([r for r in fake.requests if r.kind == "number-update"]) == updates
    assert not sync.pending_restore


async def test_a_failed_restore_is_reported_not_raised_and_a_retry_can_still_restore(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    number = fake.add_number(NUMBER, voice_url=OLD_URL)
    sync = WebhookSync(rest, NUMBER)
    await sync.point_at(PUBLIC_URL)
    fake.fail_next(1, 503)

    assert await sync.restore() is False
    assert sync.last_error is not None
    assert NUMBER in sync.last_error and OLD_URL in sync.last_error and "503" in sync.last_error
    assert number["voice_url"] == "https://abc.ngrok.app/voice"

    assert await sync.restore() is True
    assert number["voice_url"] == OLD_URL and sync.last_error is None


async def test_restore_with_twilio_gone_returns_false_instead_of_raising(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    fake.add_number(NUMBER, voice_url=OLD_URL)
    sync = WebhookSync(rest, NUMBER)
    await sync.point_at(PUBLIC_URL)
    await fake.stop()

    assert await sync.restore() is False
    assert "unreachable" in (sync.last_error or "")


async def test_an_unknown_number_is_a_clear_error_naming_it_and_changes_nothing(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    other = fake.add_number("+15559990000", voice_url=OLD_URL)
    sync = WebhookSync(rest, NUMBER)

    with pytest.raises(WebhookSyncError, match=r"\+15550001111 is not on this account"):
        await sync.point_at(PUBLIC_URL)

    assert other["voice_url"] == OLD_URL
    assert not [r for r in fake.requests if r.kind == "number-update"]
    assert await sync.restore() is True  # nothing was changed, so nothing to put back


class UpdatesRefused:
    """The real TwilioRest, with Twilio refusing (500) every voice-URL update it is sent."""

    def __init__(self, rest: TwilioRest, fake: FakeTwilioRest) -> None:
        self.rest, self.fake = rest, fake

    async def find_number(self, phone_number: str) -> dict[str, str] | None:
        return await self.rest.find_number(phone_number)

    async def set_voice_url(self, number_sid: str, url: str, method: str = "POST") -> None:
        self.fake.fail_next(1, 500)
        await self.rest.set_voice_url(number_sid, url, method)


async def test_a_refused_update_at_start_up_names_the_number_and_url_and_leaves_nothing_to_restore(
    fake: FakeTwilioRest, rest: TwilioRest
) -> None:
    number = fake.add_number(NUMBER, voice_url=OLD_URL)
    sync = WebhookSync(UpdatesRefused(rest, fake), NUMBER)

    with pytest.raises(WebhookSyncError) as raised:
        await sync.point_at(PUBLIC_URL)

    assert NUMBER in str(raised.value) and "https://abc.ngrok.app/voice" in str(raised.value)
    assert "500" in str(raised.value)
    assert number["voice_url"] == OLD_URL
    assert not sync.pending_restore
