"""Before a stream there is a ring: Twilio POSTs the call to the voice webhook and opens the
`<Stream>` that the TwiML answer names, with its `<Parameter>`s as `customParameters`.

A simulated caller with an auth token does the same, signed as Twilio signs, so a server that
binds each stream to the call /voice answered (a one-time ticket) can be called like the real
thing. Without a token it dials the media socket directly, as a local test line would.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import aiohttp
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

from console.simulate.options import CallerOptions


@dataclass(frozen=True)
class Answer:
    """What /voice said: the stream's parameters and URL, or the words of a refusal (busy,
    failed)."""

    parameters: dict[str, str]
    refusal: str = ""
    stream_url: str = ""
    action_url: str = ""  # the <Connect action>: asked what next when the stream ends


def _form(options: CallerOptions, status: str) -> dict[str, str]:
    """The fields of Twilio's call webhooks that our server reads, and the ones it signs."""
    return {"CallSid": options.call_sid, "AccountSid": options.account_sid,
            "From": options.from_number, "To": options.to_number, "CallStatus": status,
            "Direction": "inbound"}  # fmt: skip


async def ring(session: aiohttp.ClientSession, options: CallerOptions) -> Answer:
    """POST the call to /voice as Twilio would and read the TwiML it answers."""
    signed_url = options.voice_url or _https(options.signed()) + "/voice"
    webhook = options.voice_url or _http(options.url) + "/voice"
    return await _ask(session, options, webhook, signed_url, _form(options, "ringing"))


async def stream_ended(session: aiohttp.ClientSession, options: CallerOptions,
                       action_url: str) -> Answer:
    """A <Connect><Stream> ended with the caller still on the line: POST its action URL as
    Twilio would (signed over that URL) and read the TwiML it answers."""
    return await _ask(session, options, action_url, action_url, _form(options, "in-progress"))


async def _ask(session: aiohttp.ClientSession, options: CallerOptions, url: str,
               signed_url: str, form: dict[str, str]) -> Answer:
    headers = {}
    if options.auth_token:
        validator = RequestValidator(options.auth_token)
        headers[SIGNATURE_HEADER] = validator.compute_signature(signed_url, form)
    async with session.post(url, data=form, headers=headers) as reply:
        text = await reply.text()
        if reply.status != 200:
            path = url.partition("://")[2].partition("/")[2]
            return Answer({}, f"/{path} answered {reply.status}: {text[:80]}")
    return _read_twiml(text)


def _read_twiml(twiml: str) -> Answer:
    root = ElementTree.fromstring(twiml)
    connect, stream = root.find("./Connect"), root.find("./Connect/Stream")
    if connect is None or stream is None:
        said = " ".join((say.text or "") for say in root.iter("Say"))
        return Answer({}, said or "no <Stream> in the answer")
    return Answer({p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")},
                  stream_url=stream.get("url", ""), action_url=connect.get("action", ""))


def _http(media_url: str) -> str:
    """ws://host:port/media -> http://host:port"""
    scheme, _, rest = media_url.partition("://")
    secure = scheme in ("wss", "https")
    return ("https://" if secure else "http://") + rest.rsplit("/media", 1)[0]


def _https(signed_media_url: str) -> str:
    """wss://public.host/media -> https://public.host (what Twilio signs /voice over)"""
    return "https://" + signed_media_url.partition("://")[2].rsplit("/media", 1)[0]
