"""Point the Twilio number's voice webhook at this process, and put the old one back on exit.

Start-up: `point_at(public_url)` finds the number (TWILIO_PHONE_NUMBER), remembers its voice URL
and method, and sets `{public_url}/voice` (POST). Shutdown: `restore()` puts the remembered URL
back. `restore` never raises: shutdown must go on (a number left pointing at a dead tunnel only
makes calls fail until the next start), so a failure is logged and returned for the caller to show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from console.telephony.twilio_rest import TwilioRestError

log = logging.getLogger(__name__)


class NumberApi(Protocol):
    """The two TwilioRest calls this needs (so tests and the runtime can pass a TwilioRest)."""

    async def find_number(self, phone_number: str) -> dict[str, str] | None: ...

    async def set_voice_url(self, number_sid: str, url: str, method: str = "POST") -> None: ...


class WebhookSyncError(Exception):
    """The webhook could not be pointed at us; the message names the number and the reason."""


@dataclass(frozen=True)
class _Previous:
    number_sid: str
    voice_url: str
    voice_method: str


class WebhookSync:
    def __init__(self, rest: NumberApi, phone_number: str) -> None:
        self.rest = rest
        self.phone_number = phone_number
        self.webhook_url: str | None = None  # what we set, once set
        self.last_error: str | None = None  # why the last restore failed, if it did
        self._previous: _Previous | None = None

    async def point_at(self, public_url: str) -> str:
        """Set the number's voice webhook to `{public_url}/voice`; returns the previous URL."""
        number = await self._find()
        target = public_url.rstrip("/") + "/voice"
        previous = _Previous(number["sid"], number["voice_url"], number["voice_method"] or "POST")
        try:
            await self.rest.set_voice_url(previous.number_sid, target, "POST")
        except TwilioRestError as error:
            raise WebhookSyncError(
                f"could not point {self.phone_number}'s voice webhook at {target}: {error}"
            ) from None
        self._previous, self.webhook_url = previous, target
        log.info("voice webhook of %s -> %s (was %r)", self.phone_number, target,
                 previous.voice_url)
        return previous.voice_url

    async def _find(self) -> dict[str, str]:
        try:
            number = await self.rest.find_number(self.phone_number)
        except TwilioRestError as error:
            raise WebhookSyncError(f"could not look up {self.phone_number}: {error}") from None
        if number is None:
            raise WebhookSyncError(
                f"the Twilio number {self.phone_number} is not on this account"
                " (check TWILIO_PHONE_NUMBER and TWILIO_ACCOUNT_SID)"
            )
        return number

    @property
    def pending_restore(self) -> bool:
        return self._previous is not None

    async def restore(self) -> bool:
        """Put the previous voice URL back. True when restored (or nothing to restore); False
        with `last_error` set when Twilio refused or was unreachable (a later call may retry)."""
        previous = self._previous
        if previous is None:
            return True
        try:
            await self.rest.set_voice_url(
                previous.number_sid, previous.voice_url, previous.voice_method
            )
        except Exception as error:  # noqa: BLE001 - shutdown goes on whatever Twilio says
            self.last_error = (
                f"could not restore {self.phone_number}'s voice webhook to"
                f" {previous.voice_url!r}: {error}"
            )
            log.warning("%s", self.last_error)
            return False
        self._previous, self.last_error = None, None
        log.info("voice webhook of %s restored to %r", self.phone_number, previous.voice_url)
        return True
