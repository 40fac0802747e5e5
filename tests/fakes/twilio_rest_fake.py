"""A loopback Twilio REST API (the 2010-04-01 Calls and IncomingPhoneNumbers resources).

Point the real `twilio` client at it with `client.api.base_url = fake.base_url`
(PROTOCOLS.md 1.5 a), or use `TwilioRest(..., base_url=fake.base_url)`:

    async with FakeTwilioRest() as fake:
        fake.add_call("CA123")
        ...
        seen = await fake.wait_for_request(lambda r: r.form.get("Status") == "completed")

Fault knobs: `fail_next(n, status)`, `down = True` (503 always), `hang_s` (answer late).

Warm transfer (issue 15): Calls create, and the conference flow (twilio_conference.py says where
each behaviour comes from). `route_webhooks(public, local)` tells it where the app really runs;
`answer(leg)` picks a created call up (its Url's TwiML runs: brief, then the room) and
`end(leg, status)` ends it with a final status (busy, no-answer, failed, canceled, completed),
POSTed to its StatusCallback. `on_moved[call_sid]` is called when an update moves a call
elsewhere, where Twilio ends its media stream (tests stop their simulated caller there). A
redirect to a URL is recorded; the test's next simulated caller follows it (it rings /voice).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.twilio_conference import Conferences, Webhooks, call_form, leave_form

DEFAULT_ACCOUNT = "AC" + "0" * 32
DEFAULT_TOKEN = "test-twilio-token"
API = "/2010-04-01/Accounts/{account}"
# Final call statuses: such a call cannot be redirected (Twilio error 21220).
ENDED = frozenset({"completed", "canceled", "busy", "no-answer", "failed"})
ERRORS = {  # status -> (Twilio error code, message)
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource {path} was not found"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


@dataclass
class RestRequest:
    method: str
    path: str
    kind: str  # "call-update" | "call-create" | "number-list" | "number-update"
    sid: str  # the CA... or PN... in the path ("" for the list)
    form: dict[str, str]
    query: dict[str, str]
    authorized: bool
    received: float  # time.monotonic()
    status: int | None = None  # what the fake answered; None while still pending


@dataclass
class FakeCall:
    sid: str
    status: str = "in-progress"
    twiml: str | None = None
    url: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)  # every update form
    to: str = "+15550001111"
    from_: str = "+15557654321"
    direction: str = "inbound"
    status_callback: str = ""


class FakeTwilioRest(LoopbackServer):
    name = "FakeTwilioRest"

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT,
        auth_token: str = DEFAULT_TOKEN,
        *,
        accept_any_call: bool = False,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.accept_any_call = accept_any_call
        self.calls: dict[str, FakeCall] = {}
        self.numbers: dict[str, dict[str, Any]] = {}
        self.requests: list[RestRequest] = []
        self.down = False  # every request answers 503
        self.hang_s = 0.0  # delay before answering (to trip client timeouts)
        self._failures: list[int] = []  # statuses for the next requests, in order
        self.conferences = Conferences()
        self.webhooks = Webhooks(auth_token)
        self.on_moved: dict[str, Callable[[], object]] = {}  # call SID -> its stream ends

    # lifecycle -----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        api = API.format(account="{account}")
        app.router.add_post(api + "/Calls/{sid}.json", self._update_call)
        app.router.add_post(api + "/Calls.json", self._create_call)
        app.router.add_get(api + "/IncomingPhoneNumbers.json", self._list_numbers)
        app.router.add_post(api + "/IncomingPhoneNumbers/{sid}.json", self._update_number)

    # test set-up and queries ------------------------------------------------------------------

    def add_call(self, sid: str, status: str = "in-progress") -> FakeCall:
        self.calls[sid] = FakeCall(sid, status)
        return self.calls[sid]

    def add_number(
        self, phone_number: str, sid: str | None = None, voice_url: str = ""
    ) -> dict[str, Any]:
        sid = sid or "PN" + f"{len(self.numbers) + 1:032d}"
        self.numbers[sid] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "phone_number": phone_number,
            "friendly_name": phone_number,
            "voice_url": voice_url,
            "voice_method": "POST",
            "api_version": "2010-04-01",
        }
        return self.numbers[sid]

    def route_webhooks(self, public_url: str, local_url: str) -> None:
        """Twilio calls `public_url...`; on loopback the app listens at `local_url`."""
        self.webhooks.routes[public_url.rstrip("/")] = local_url.rstrip("/")

    def created(self, to: str | None = None) -> list[FakeCall]:
        """Calls placed through Calls create (to `to`, if given), oldest first."""
        return [c for c in self.calls.values()
                if c.direction == "outbound-api" and to in (None, c.to)]

    async def answer(self, sid: str) -> tuple[int, str]:
        """The created call `sid` is picked up: Twilio fetches its Url and runs the TwiML."""
        call = self.calls[sid]
        call.status = "in-progress"
        status, twiml = await self.webhooks.post(call.url or "",
                                                 call_form(call, self.account_sid, "in-progress"))
        if status == 200:
            self.conferences.run(sid, twiml)
        self._notify()
        return status, twiml

    async def end(self, sid: str, status: str) -> int:
        """Call `sid` ends with `status`; Twilio POSTs it to the call's StatusCallback."""
        call = self.calls[sid]
        call.status = status
        self.conferences.leave(sid)
        form = {**call_form(call, self.account_sid, status), "CallDuration": "0"}
        code, _ = await self.webhooks.post(call.status_callback, form)
        self._notify()
        return code

    async def hang_up(self, sid: str) -> None:
        """The person on call `sid` hangs up: it completes and leaves its room, and Twilio tells
        the conference's statusCallback (when it asked for "leave")."""
        self.calls[sid].status = "completed"
        room = self.conferences.room_of(sid)
        leg = self.conferences.leg(sid)
        self.conferences.leave(sid)
        if room is not None and leg.events_url and "leave" in leg.events:
            await self.webhooks.post(leg.events_url, leave_form(room, sid, self.account_sid))
        self._notify()

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next `count` requests answer `status` with Twilio's error JSON."""
        self._failures.extend([status] * count)

    async def wait_for_request(
        self,
        predicate: Callable[[RestRequest], object] = lambda r: True,
        timeout: float = 2.0,  # noqa: ASYNC109  (a bounded wait is the point of this helper)
    ) -> RestRequest:
        """The first recorded request matching `predicate`, waiting for it if need be."""

        def first_match() -> RestRequest | None:
            return next((r for r in self.requests if predicate(r)), None)

        await self.wait_for(lambda: first_match() is not None, timeout)
        found = first_match()
        assert found is not None
        return found

    # endpoints ------------------------------------------------------------------------------

    async def _update_call(self, request: web.Request) -> web.Response:
        recorded = await self._record(request, "call-update")
        return await self._answer(request, recorded, self._call_update_body)

    async def _create_call(self, request: web.Request) -> web.Response:
        recorded = await self._record(request, "call-create")
        return await self._answer(request, recorded, self._call_create_body)

    async def _list_numbers(self, request: web.Request) -> web.Response:
        recorded = await self._record(request, "number-list")
        return await self._answer(request, recorded, self._number_list_body)

    async def _update_number(self, request: web.Request) -> web.Response:
        recorded = await self._record(request, "number-update")
        return await self._answer(request, recorded, self._number_update_body)

    async def _record(self, request: web.Request, kind: str) -> RestRequest:
        form = await request.post()
        recorded = RestRequest(
            method=request.method,
            path=request.path,
            kind=kind,
            sid=request.match_info.get("sid", ""),
            form={key: str(value) for key, value in form.items()},
            query=dict(request.query),
            authorized=self._authorized(request),
            received=time.monotonic(),
        )
        self.requests.append(recorded)
        self._notify()
        return recorded

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _answer(
        self,
        request: web.Request,
        recorded: RestRequest,
        body_for: Callable[[RestRequest], tuple[int, dict[str, Any]]],
    ) -> web.Response:
        if self.hang_s:
            await self._sleep_unless_stopping(self.hang_s)
        status, body = self._refusal(request, recorded) or body_for(recorded)
        recorded.status = status
        self._notify()
        return web.json_response(body, status=status)

    def _refusal(
        self, request: web.Request, recorded: RestRequest
    ) -> tuple[int, dict[str, Any]] | None:
        if self.down:
            return _error(503, request.path)
        if self._failures:
            return _error(self._failures.pop(0), request.path)
        if not recorded.authorized:
            return _error(401, request.path)
        if request.match_info["account"] != self.account_sid:
            return _error(404, request.path)
        return None

    # resource bodies --------------------------------------------------------------------------

    def _call_update_body(self, recorded: RestRequest) -> tuple[int, dict[str, Any]]:
        call = self.calls.get(recorded.sid)
        if call is None and self.accept_any_call:
            call = self.add_call(recorded.sid)
        if call is None:
            return _error(404, recorded.path)
        if call.status in ENDED and ("Twiml" in recorded.form or "Url" in recorded.form):
            return 400, {"code": 21220, "message": "Call is not in-progress. Cannot redirect.",
                         "more_info": "https://www.twilio.com/docs/errors/21220", "status": 400}
        self._apply_call_update(call, recorded.form)
        return 200, self._call_json(call)

    def _apply_call_update(self, call: FakeCall, form: dict[str, str]) -> None:
        _apply_call_update(call, form)
        if "Twiml" in form:
            self.conferences.run(call.sid, form["Twiml"])
        elif "Url" in form:
            self.conferences.leave(call.sid)
            self.conferences.leg(call.sid).timeline.append(("redirected", form["Url"]))
        if ("Twiml" in form or "Url" in form) and (moved := self.on_moved.get(call.sid)):
            moved()  # Twilio ends the call's media stream when its TwiML is replaced

    def _call_create_body(self, recorded: RestRequest) -> tuple[int, dict[str, Any]]:
        """Twilio answers 201 with the new call, `queued`; it rings the number afterwards."""
        form = recorded.form
        if not form.get("To") or not (form.get("Url") or form.get("Twiml")):
            return 400, {"code": 21201, "message": "No 'To' number is specified",
                         "more_info": "https://www.twilio.com/docs/errors/21201", "status": 400}
        sid = "CA" + f"{len(self.calls) + 1:032x}"
        call = self.add_call(sid, status="queued")
        call.to, call.from_, call.direction = form["To"], form.get("From", ""), "outbound-api"
        call.url, call.twiml = form.get("Url"), form.get("Twiml")
        call.status_callback = form.get("StatusCallback", "")
        return 201, self._call_json(call)

    def _call_json(self, call: FakeCall) -> dict[str, Any]:
        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "status": call.status,
            "direction": call.direction,
            "to": call.to,
            "from": call.from_,
            "api_version": "2010-04-01",
        }

    def _number_list_body(self, recorded: RestRequest) -> tuple[int, dict[str, Any]]:
        wanted = recorded.query.get("PhoneNumber")
        found = [n for n in self.numbers.values() if wanted in (None, n["phone_number"])]
        page_size = int(recorded.query.get("PageSize", "50"))
        return 200, _page(recorded.path, found[:page_size], page_size)

    def _number_update_body(self, recorded: RestRequest) -> tuple[int, dict[str, Any]]:
        number = self.numbers.get(recorded.sid)
        if number is None:
            return _error(404, recorded.path)
        if "VoiceUrl" in recorded.form:
            number["voice_url"] = recorded.form["VoiceUrl"]
        if "VoiceMethod" in recorded.form:
            number["voice_method"] = recorded.form["VoiceMethod"]
        return 200, number


def _apply_call_update(call: FakeCall, form: dict[str, str]) -> None:
    call.history.append(form)
    if "Twiml" in form:
        call.twiml = form["Twiml"]
    if "Url" in form:
        call.url = form["Url"]
    if form.get("Status") in ("completed", "canceled"):
        call.status = form["Status"]


def _page(path: str, records: list[dict[str, Any]], page_size: int) -> dict[str, Any]:
    return {
        "incoming_phone_numbers": records,
        "page": 0,
        "page_size": page_size,
        "first_page_uri": f"{path}?PageSize={page_size}&Page=0",
        "next_page_uri": None,
        "previous_page_uri": None,
        "start": 0,
        "end": max(len(records) - 1, 0),
        "uri": f"{path}?PageSize={page_size}&Page=0",
    }


def _error(status: int, path: str) -> tuple[int, dict[str, Any]]:
    code, message = ERRORS.get(status, (status * 100, "Error"))
    return status, {
        "code": code,
        "message": message.format(path=path),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
