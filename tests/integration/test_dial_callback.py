"""POST /dial-status on a real MediaServer socket, signed the way Twilio signs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from console.config import PublicAddress, Settings, load_settings
from console.events import EventBus
from console.telephony.callbacks import APOLOGY, add_dial_status_route, dial_action_url
from console.telephony.server import MediaServer
from console.telephony.twilio_rest import dial_twiml

pytestmark = pytest.mark.timeout(20)

TOKEN = "12345"
PUBLIC_URL = "https://abc.ngrok.app"
CALL = "CA" + "1" * 32
DIALLED = "CA" + "9" * 32
SECOND = "+15550002000"


@dataclass
class Recorder:
    """The runtime's side: records each outcome and answers with the next TwiML, if any."""

    answer: str | None = None
    fail: bool = False
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def __call__(self, call_sid: str, status: str, form: dict[str, str]) -> str | None:
        self.seen.append((call_sid, status, form))
        if self.fail:
            raise RuntimeError("triage blew up")
        return self.answer


@dataclass
class Rig:
    settings: Settings
    server: MediaServer
    recorder: Recorder
    http: aiohttp.ClientSession
    transferring: set[str]

    async def post(self, path: str, form: dict[str, str], *, sign: bool = True,
                   signed_url: str | None = None) -> tuple[int, str]:
        headers = {}
        if sign:
            url = signed_url or PUBLIC_URL + path
            headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(url, form)
        async with self.http.post(self.server.url + path, data=form, headers=headers) as reply:
            return reply.status, await reply.text()


async def _rig(**overrides: object) -> AsyncIterator[Rig]:
    settings = load_settings(server_host="127.0.0.1", server_port=0, public_url=PUBLIC_URL,
                             **overrides)
    server = MediaServer(settings, _no_calls, EventBus())
    recorder = Recorder()
    transferring = {CALL}  # the runtime's calls with a transfer waiting for its outcome
    add_dial_status_route(server.app, settings, recorder, transferring.__contains__)
    await server.start()
    async with aiohttp.ClientSession() as http:
        yield Rig(settings, server, recorder, http, transferring)
    await server.stop()


async def _no_calls(start, sender):  # pragma: no cover - no media socket in these tests
    raise AssertionError("no calls expected")


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for made in _rig(twilio_auth_token=TOKEN):
        yield made


@pytest.fixture
async def open_rig() -> AsyncIterator[Rig]:
    async for made in _rig():
        yield made


def _outcome(status: str, call_sid: str = CALL) -> dict[str, str]:
    return {"CallSid": call_sid, "DialCallSid": DIALLED, "DialCallStatus": status,
            "DialCallDuration": "0", "AccountSid": "AC" + "0" * 32}


def _path(settings: Settings, call_sid: str = CALL) -> str:
    return dial_action_url(PublicAddress.of(settings), call_sid).removeprefix(PUBLIC_URL)


def test_the_action_url_is_the_public_dial_status_url_naming_the_original_call(rig: Rig):
    assert dial_action_url(rig.server.address, CALL) == f"{PUBLIC_URL}/dial-status?call={CALL}"
    twiml = dial_twiml(SECOND, action_url=dial_action_url(rig.server.address, CALL))
    assert f'action="{PUBLIC_URL}/dial-status?call={CALL}"' in twiml


def test_without_a_public_url_there_is_no_action_url_and_the_error_says_why():
    with pytest.raises(ValueError, match="public URL"):
        dial_action_url(PublicAddress(None, "127.0.0.1:8765"), CALL)


async def test_a_signed_no_answer_asks_the_runtime_and_plays_its_second_dial(rig: Rig):
    rig.recorder.answer = dial_twiml(SECOND, action_url=dial_action_url(rig.server.address, CALL))

    status, body = await rig.post(_path(rig.settings), _outcome("no-answer"))

    assert status == 200
    assert f"<Number>{SECOND}</Number>" in body
    [(call_sid, outcome, form)] = rig.recorder.seen
    assert (call_sid, outcome) == (CALL, "no-answer")
    assert form["DialCallSid"] == DIALLED


async def test_a_completed_dial_ends_with_an_empty_response_whatever_the_runtime_says(rig: Rig):
    rig.recorder.answer = dial_twiml(SECOND)

    status, body = await rig.post(_path(rig.settings), _outcome("completed"))

    assert status == 200
    assert body.endswith("<Response />")
    assert rig.recorder.seen[0][1] == "completed"


async def test_a_busy_line_with_nothing_left_to_try_apologises_and_hangs_up(rig: Rig):
    status, body = await rig.post(_path(rig.settings), _outcome("busy"))

    assert status == 200
    assert APOLOGY in body and "<Hangup />" in body


async def test_a_failing_runtime_callback_still_gets_the_caller_an_apology(rig: Rig):
    rig.recorder.fail = True

    status, body = await rig.post(_path(rig.settings), _outcome("failed"))

    assert status == 200 and APOLOGY in body


async def test_an_unsigned_post_is_refused_and_never_reaches_the_runtime(rig: Rig):
    status, _ = await rig.post(_path(rig.settings), _outcome("no-answer"), sign=False)

    assert status == 403
    assert rig.recorder.seen == []


async def test_a_signature_over_another_call_in_the_query_is_refused(rig: Rig):
    other = "CA" + "7" * 32
    signed_for_other = PUBLIC_URL + _path(rig.settings, other)

    status, _ = await rig.post(
        _path(rig.settings), _outcome("no-answer"), signed_url=signed_for_other
    )

    assert status == 403 and rig.recorder.seen == []


async def test_without_a_token_unsigned_posts_are_accepted_and_call_sid_comes_from_the_form(
    open_rig: Rig,
):
    status, body = await open_rig.post("/dial-status", _outcome("no-answer"), sign=False)

    assert status == 200 and APOLOGY in body
    assert open_rig.recorder.seen[0][0] == CALL


async def test_a_post_that_names_no_call_is_a_bad_request(open_rig: Rig):
    status, _ = await open_rig.post("/dial-status", {"DialCallStatus": "busy"}, sign=False)

    assert status == 400 and open_rig.recorder.seen == []


async def test_a_signed_outcome_for_a_call_with_no_transfer_in_progress_is_refused(rig: Rig):
    """A forged (or replayed) "busy" must not move a caller on to the next emergency number."""
    rig.transferring.clear()

    status, _ = await rig.post(_path(rig.settings), _outcome("busy"))

    assert status == 409 and rig.recorder.seen == []
