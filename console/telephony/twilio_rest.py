"""The few Twilio REST actions the console needs: redirect (transfer), hang up, webhook sync.

Built on the official `twilio` client. No retry policy here on purpose: the emergency triage
code decides whether a failed transfer is retried, redialled elsewhere or apologised for.

Errors are `TwilioRestError(status, code, message)`; `status == 0` means Twilio was not reached
(connection refused, DNS, timeout). A timed-out request may still have reached Twilio.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from console.telephony.guard import valid_sid

log = logging.getLogger(__name__)

# The SDK logs ~6 INFO lines per request (URL, query with phone numbers, headers): noise in the
# operator console. Warnings still get through.
_sdk_log = logging.getLogger(f"{__name__}.sdk")
_sdk_log.setLevel(logging.WARNING)

NOT_FOUND = 20404  # Twilio's "resource not found": the call SID is unknown or long gone
DEFAULT_TIMEOUT_S = 3.0  # a transfer that waits longer than this is better retried elsewhere
MAX_WORKERS = 4  # REST calls are rare (a few per call); 4 hung ones must not starve the loop's pool

T = TypeVar("T")


class TwilioRestError(Exception):
    """Twilio refused or could not be reached. `status` 0 = no HTTP answer; `code` is Twilio's
    error code (e.g. 20404) when it sent one."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Twilio REST {status or 'unreachable'} (code {code}): {message}")
        self.status = status
        self.code = code
        self.message = message


def _call(call_sid: str) -> str:
    """The SDK puts the SID into the request path as it is: "../IncomingPhoneNumbers/PN…" would
    act on another resource. The media server refuses such SIDs; this is the last line."""
    if not valid_sid("call", call_sid):
        raise TwilioRestError(0, None, f"not a Twilio call SID: {call_sid[:40]!r}")
    return call_sid


class TwilioRest:
    """Async facade over the sync `twilio.rest.Client`.

    Why the sync client in threads rather than the SDK's async one: REST calls here are rare
    (a few per call), so a thread hop costs nothing that matters, and the sync client's
    `requests` timeout is a plain per-request number, while the async client must be built
    inside the running loop and hands a float timeout to aiohttp. The threads are our own small
    pool, so a hung Twilio holds at most MAX_WORKERS threads and never the default executor.
    Every call is also bounded on the asyncio side by `timeout_s`.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        base_url: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._timeout_s = timeout_s
        self._http = TwilioHttpClient(timeout=timeout_s, logger=_sdk_log)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        if base_url:
            # PROTOCOLS.md 1.5 (a): read on every request, covers calls and incoming numbers.
            self._client.api.base_url = base_url.rstrip("/")
        self._pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="twilio-rest")

    def __repr__(self) -> str:  # the token stays out of reprs and logs
        return f"TwilioRest(account_sid={self._client.account_sid!r})"

    async def redirect(self, call_sid: str, twiml: str) -> None:
        """Replace what the live call is doing with `twiml` (e.g. `dial_twiml(...)`)."""
        await self._run(lambda: self._client.calls(_call(call_sid)).update(twiml=twiml))

    async def redirect_url(self, call_sid: str, url: str, method: str = "POST") -> None:
        """Make the live call fetch its next TwiML from `url`."""
        await self._run(lambda: self._client.calls(_call(call_sid)).update(url=url, method=method))

    async def create_call(self, to: str, from_: str, *, url: str, status_callback: str,
                          timeout_s: int) -> str:
        """Call `to` (a warm transfer's target); returns the new call's SID. When it is answered
        Twilio fetches `url` for its TwiML; its final status is POSTed to `status_callback`."""
        call = await self._run(lambda: self._client.calls.create(
            to=to, from_=from_, url=url, method="POST", timeout=timeout_s,
            status_callback=status_callback, status_callback_method="POST"))
        return str(call.sid)

    async def cancel(self, call_sid: str) -> None:
        """Call off a call that is still ringing (a warm transfer's target, when the caller left).
        Twilio's "canceled" applies to queued and ringing calls only."""
        await self._run(lambda: self._client.calls(_call(call_sid)).update(status="canceled"))

    async def hang_up(self, call_sid: str) -> bool:
        """End the call. False when Twilio no longer knows it (20404: already ended)."""
        try:
            await self._run(lambda: self._client.calls(_call(call_sid)).update(status="completed"))
        except TwilioRestError as error:
            if error.code == NOT_FOUND:
                return False
            raise
        return True

    async def find_number(self, phone_number: str) -> dict[str, str] | None:
        """The account's number record (sid, phone_number, voice_url, voice_method), or None."""
        numbers = await self._run(
            lambda: self._client.incoming_phone_numbers.list(phone_number=phone_number, limit=1)
        )
        return _number_record(numbers[0]) if numbers else None

    async def set_voice_url(self, number_sid: str, url: str, method: str = "POST") -> None:
        """Point the number's incoming-call webhook at `url`."""
        await self._run(
            lambda: self._client.incoming_phone_numbers(number_sid).update(
                voice_url=url, voice_method=method
            )
        )

    async def aclose(self) -> None:
        # Do not wait for a hung request: its thread ends by itself within timeout_s.
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._http.session is not None:
            await asyncio.to_thread(self._http.session.close)

    async def _run(self, action: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                return await loop.run_in_executor(self._pool, _translated(action))
        except TimeoutError:
            raise TwilioRestError(0, None, f"no answer within {self._timeout_s:g} s") from None


def _translated(action: Callable[[], T]) -> Callable[[], T]:
    """Runs in the worker thread; turns SDK and transport errors into TwilioRestError."""

    def run() -> T:
        try:
            return action()
        except TwilioRestException as error:
            raise TwilioRestError(error.status, error.code, _plain(error.msg)) from None
        except TwilioException as error:
            raise _from_page_error(error) from None
        except requests.RequestException as error:
            raise TwilioRestError(
                0, None, f"could not reach Twilio ({type(error).__name__})"
            ) from None

    return run


def _from_page_error(error: TwilioException) -> TwilioRestError:
    """List calls fail differently: `TwilioException("Unable to fetch page", response)`."""
    response = error.args[1] if len(error.args) > 1 else None
    status = getattr(response, "status_code", 0) or 0
    body = _json_or_empty(getattr(response, "text", ""))
    message = body.get("message") or (error.args[0] if error.args else "Twilio error")
    code = body.get("code")
    return TwilioRestError(status, code if isinstance(code, int) else None, _plain(message))


def _json_or_empty(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _plain(message: str) -> str:
    # The SDK prefixes "Unable to update record: "; keep the message one line for events/logs.
    return " ".join(str(message).split())


def _number_record(number: Any) -> dict[str, str]:
    return {
        "sid": number.sid,
        "phone_number": number.phone_number,
        "voice_url": number.voice_url or "",
        "voice_method": number.voice_method or "",
    }


def dial_twiml(
    number: str,
    *,
    say: str | None = None,
    caller_id: str | None = None,
    timeout_s: int = 20,
    action_url: str | None = None,
) -> str:
    """TwiML that (optionally) says `say`, then dials `number` for up to `timeout_s` seconds.

    With `action_url`, Twilio POSTs the dial outcome there (DialCallStatus: completed, busy,
    no-answer, failed, canceled), which is how a failed transfer gets noticed and retried.
    """
    response = VoiceResponse()
    if say:
        response.say(say)
    dial = Dial(
        caller_id=caller_id,
        timeout=timeout_s,
        action=action_url,
        method="POST" if action_url else None,
    )
    dial.number(number)
    response.append(dial)
    return str(response)


def hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)
