"""Twilio's `<Dial action>` callback: how a transfer's outcome comes back to us.

When a transfer's `<Dial>` ends, Twilio POSTs the outcome (`DialCallStatus`: completed, answered,
busy, no-answer, failed, canceled) to the Dial's action URL and plays whatever TwiML we answer.

Which call it is about: the `call` query parameter, which `dial_action_url` puts there. It is
part of the signed URL, so with signatures on it cannot be altered. Without it we fall back to
the form's `CallSid`: on a Dial action request that is the original (parent) call, while
`DialCallSid` is the leg we dialled.

Only Twilio may report an outcome, and only for a transfer we started: the request must be
signed (whenever signatures are enforced; a public server without them does not start), and
the call must have a transfer waiting for its outcome. A forged "busy" during an emergency
would otherwise move the caller on to the next number.

The answer: after `completed`/`answered` an empty `<Response/>` (the dialled person talked and
hung up: the call is over). Otherwise the TwiML `on_status` returns, which lets the emergency
triage dial its second number, or a short apology and a hang-up. A failing `on_status` still
gets the apology: Twilio plays "an application error has occurred" for a 500, which is worse.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from twilio.request_validator import (
    SIGNATURE_HEADER,
    RequestValidator,
)
from twilio.twiml.voice_response import VoiceResponse

from console.config import PublicAddress, Settings
from console.telephony.guard import called_url, signed_by_twilio

log = logging.getLogger(__name__)

PATH = "/dial-status"
CONNECTED = {"completed", "answered"}  # the dialled party picked up; nothing more to do
APOLOGY = "Sorry, nobody could take your call right now. Please call again later. Goodbye."

# (original call SID, DialCallStatus, all form fields) -> TwiML to play next, or None
OnDialStatus = Callable[[str, str, dict[str, str]], Awaitable[str | None]]
# call SID -> whether a transfer of that call is waiting for its <Dial> outcome
IsTransferring = Callable[[str], bool]


def dial_action_url(address: PublicAddress, call_sid: str) -> str:
    """The public URL for `dial_twiml(action_url=...)`. Needs PUBLIC_URL (or the tunnel's):
    Twilio cannot reach a local address, so without one this raises ValueError."""
    if not address.url:
        raise ValueError("a Dial action URL needs a public URL (PUBLIC_URL or --tunnel)")
    return f"{address.url}{PATH}?{urlencode({'call': call_sid})}"


def add_dial_status_route(
    app: web.Application, settings: Settings, on_status: OnDialStatus,
    is_transferring: IsTransferring, address: PublicAddress | None = None,
) -> None:
    """Register `POST /dial-status` on `app` (before the server starts)."""
    handler = _DialStatus(settings, on_status, is_transferring,
                          address or PublicAddress.of(settings))
    app.router.add_post(PATH, handler.handle)


def apology_twiml() -> str:
    response = VoiceResponse()
    response.say(APOLOGY)
    response.hangup()
    return str(response)


class _DialStatus:
    def __init__(self, settings: Settings, on_status: OnDialStatus,
                 is_transferring: IsTransferring, address: PublicAddress) -> None:
        self.settings = settings
        self.address = address
        self.on_status = on_status
        self.is_transferring = is_transferring
        token = settings.twilio.auth_token
        self.validator = (RequestValidator(token.get_secret_value())
                          if settings.validates_signatures and token is not None else None)

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not self._signed(request, form):
            log.warning("dial-status callback rejected: bad or missing %s", SIGNATURE_HEADER)
            return web.Response(status=403, text="invalid signature")
        fields = {key: str(value) for key, value in form.items()}
        call_sid = request.query.get("call") or fields.get("CallSid", "")
        if not call_sid:
            return web.Response(status=400, text="no call: expected ?call=CA... or CallSid")
        if not self.is_transferring(call_sid):
            log.warning("dial-status for %.40r refused: no transfer of that call is in progress",
                        call_sid)
            return web.Response(status=409, text="no transfer of this call is in progress")
        status = fields.get("DialCallStatus", "")
        return _twiml(await self._next_twiml(call_sid, status, fields))

    async def _next_twiml(self, call_sid: str, status: str, fields: dict[str, str]) -> str:
        log.info("call %s: dial finished %s", call_sid, status or "(no status)")
        try:
            twiml = await self.on_status(call_sid, status, fields)
        except Exception:
            log.exception("call %s: dial-status handler failed", call_sid)
            twiml = None
        if status in CONNECTED:
            return str(VoiceResponse())
        return twiml or apology_twiml()

    def _signed(self, request: web.Request, form: Any) -> bool:
        """Exactly as /voice: over the public URL Twilio called, path and query included."""
        url = called_url(self.address.url, request.scheme, request.host, request.path_qs)
        return signed_by_twilio(self.validator, request.headers, url, form)


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml")
