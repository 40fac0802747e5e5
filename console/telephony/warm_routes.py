"""The webhooks Twilio calls during a warm transfer: answer, status, hold and the caller's
conference events (conference.py).

Each is signed exactly as /voice and /dial-status are (X-Twilio-Signature over the public URL,
path and query included) and must name, in its signed `?call=`, a call with a warm transfer in
progress. The answer and status callbacks must also come from the target leg we created (its
`CallSid`), so a captured callback of one target cannot act for another. Refusals: 403 unsigned,
400 no call, 409 no transfer in progress (or another leg). Of the conference's events only the
caller's own leaving counts.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from aiohttp import web
from twilio.request_validator import (
    SIGNATURE_HEADER,
    RequestValidator,
)

from console.config import PublicAddress, Settings
from console.telephony.conference import (
    ANSWER_PATH,
    CONFERENCE_PATH,
    HOLD_PATH,
    STATUS_PATH,
    empty_twiml,
)
from console.telephony.guard import called_url, signed_by_twilio

log = logging.getLogger(__name__)


class WarmWebhooks(Protocol):
    """The runtime's side (console/warm.py)."""

    def in_progress(self, call_sid: str, leg_sid: str | None) -> bool:
        """A warm transfer of `call_sid` is under way (and `leg_sid`, when given, is its
        current target's call)."""
        ...

    async def answered(self, call_sid: str, leg_sid: str) -> str:
        """The target picked up: the TwiML they hear (the brief, then the conference)."""
        ...

    async def target_finished(self, call_sid: str, leg_sid: str, status: str) -> None: ...

    def hold(self, call_sid: str) -> str:
        """The conference's wait TwiML for the caller."""
        ...

    async def caller_left(self, call_sid: str) -> None:
        """The caller left the conference (hung up, or was redirected back to the agent)."""
        ...


def add_warm_routes(app: web.Application, settings: Settings, warm: WarmWebhooks,
                    address: PublicAddress | None = None) -> None:
    """Register the four routes on `app` (before the server starts)."""
    routes = _WarmRoutes(settings, warm, address or PublicAddress.of(settings))
    app.router.add_post(CONFERENCE_PATH, routes.conference)
    app.router.add_post(ANSWER_PATH, routes.answer)
    app.router.add_post(STATUS_PATH, routes.status)
    app.router.add_post(HOLD_PATH, routes.hold)


class _WarmRoutes:
    def __init__(self, settings: Settings, warm: WarmWebhooks, address: PublicAddress) -> None:
        self.settings = settings
        self.address = address
        self.warm = warm
        token = settings.twilio.auth_token
        self.validator = (RequestValidator(token.get_secret_value())
                          if settings.validates_signatures and token is not None else None)

    async def answer(self, request: web.Request) -> web.Response:
        refused, call_sid, form = await self._admit(request, leg=True)
        if refused is not None:
            return refused
        try:
            return _twiml(await self.warm.answered(call_sid, form.get("CallSid", "")))
        except Exception:  # a target must not hear "an application error has occurred"
            log.exception("call %s: warm transfer answer failed", call_sid)
            return _twiml(empty_twiml())

    async def status(self, request: web.Request) -> web.Response:
        refused, call_sid, form = await self._admit(request, leg=True)
        if refused is not None:
            return refused
        try:
            await self.warm.target_finished(call_sid, form.get("CallSid", ""),
                                            form.get("CallStatus", ""))
        except Exception:
            log.exception("call %s: warm transfer status failed", call_sid)
        return web.Response(text="ok")  # Twilio only looks at the 2xx

    async def hold(self, request: web.Request) -> web.Response:
        refused, call_sid, _ = await self._admit(request, leg=False)
        return refused or _twiml(self.warm.hold(call_sid))

    async def conference(self, request: web.Request) -> web.Response:
        refused, call_sid, form = await self._admit(request, leg=False)
        if refused is not None:
            return refused
        if form.get("CallSid") != call_sid:  # the target's own joining and leaving: not ours
            return web.Response(text="ok")
        if form.get("StatusCallbackEvent") == "participant-leave":
            try:
                await self.warm.caller_left(call_sid)
            except Exception:
                log.exception("call %s: warm transfer conference event failed", call_sid)
        return web.Response(text="ok")

    async def _admit(self, request: web.Request, *, leg: bool
                     ) -> tuple[web.Response | None, str, dict[str, str]]:
        """(a refusal or None, the caller's call SID, the form)."""
        form = await request.post()
        fields = {key: str(value) for key, value in form.items()}
        if not self._signed(request, form):
            log.warning("%s rejected: bad or missing %s", request.path, SIGNATURE_HEADER)
            return web.Response(status=403, text="invalid signature"), "", fields
        call_sid = request.query.get("call", "")
        if not call_sid:
            return web.Response(status=400, text="no call: expected ?call=CA..."), "", fields
        leg_sid = fields.get("CallSid", "") if leg else None
        if not self.warm.in_progress(call_sid, leg_sid):
            log.warning("%s for %.40r refused: no warm transfer of it in progress",
                        request.path, call_sid)
            return web.Response(status=409, text="no warm transfer of this call in progress"), \
                call_sid, fields
        return None, call_sid, fields

    def _signed(self, request: web.Request, form: Any) -> bool:
        """Exactly as /voice: over the public URL Twilio called, path and query included."""
        url = called_url(self.address.url, request.scheme, request.host, request.path_qs)
        return signed_by_twilio(self.validator, request.headers, url, form)


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml")
