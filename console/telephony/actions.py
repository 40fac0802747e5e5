"""The calls ring's CallActions port, filled by Twilio REST."""

from __future__ import annotations

from console.config import PublicAddress, Settings
from console.telephony.callbacks import dial_action_url
from console.telephony.twilio_rest import TwilioRest, dial_twiml


class TwilioCallActions:
    def __init__(self, settings: Settings, address: PublicAddress | None = None) -> None:
        assert settings.twilio.account_sid and settings.twilio.auth_token
        self.settings = settings
        self.address = address or PublicAddress.of(settings)
        self.rest = TwilioRest(settings.twilio.account_sid,
                               settings.twilio.auth_token.get_secret_value(),
                               settings.twilio.api_base_url)

    async def hang_up(self, call_sid: str) -> bool:
        return await self.rest.hang_up(call_sid)

    async def transfer(self, call_sid: str, number: str, *, announce: str | None = None) -> None:
        # The action URL makes Twilio report the dial outcome, so an unanswered emergency
        # transfer can move on to the next number.
        action = dial_action_url(self.address, call_sid) if self.address.url else None
        twiml = dial_twiml(number, say=announce, caller_id=self.settings.twilio.phone_number,
                           action_url=action)
        await self.rest.redirect(call_sid, twiml)

    async def aclose(self) -> None:
        await self.rest.aclose()
