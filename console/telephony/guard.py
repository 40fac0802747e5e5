"""What the media server asks of a peer before and while it is a call: pure, cheap checks.

- `StreamTickets`: the media upgrade's signature covers only `wss://host/media`, so a captured
  header would open any number of streams for any call, forever. /voice therefore hands Twilio
  a one-time ticket as a stream `<Parameter>`; `start` must bring it back for the same call.
  `FleetTickets` are the same promise across a fleet, where /voice on one worker sends the
  stream to another.
- `InboundBudget`: Twilio sends 50 media frames a second. A peer far above that is flooding,
  and would take the event loop and the recognizer from every other call.
- `signed_by_twilio` / `called_url`: the one check every Twilio webhook route makes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

TICKET_PARAMETER = "ticket"
RESUME_PARAMETER = "resume"  # failover: the stream continues a call; its value a one-time token
RESUMED = "resumed"  # what the handler sees instead: "1" once the token was good
TICKET_TTL_S = 60.0  # Twilio opens the stream within a second or two of /voice's answer
MAX_OPEN_TICKETS = 10_000  # /voice is signed, so only Twilio can fill this; bounded anyway
FRAMES_PER_S = 50  # Twilio's 20 ms media frames

_SID = {"call": re.compile(r"CA[0-9a-fA-F]{32}"), "stream": re.compile(r"MZ[0-9a-fA-F]{32}"),
        "account": re.compile(r"AC[0-9a-fA-F]{32}")}  # fmt: skip


def called_url(public_url: str | None, scheme: str, host: str, path_qs: str) -> str:
    """The URL Twilio called and signed: the public one (the tunnel's), never our local address."""
    return (public_url or f"{scheme}://{host}") + path_qs


def signed_by_twilio(validator: RequestValidator | None, headers: Mapping[str, str], url: str,
                     params: Any) -> bool:
    """`headers` carry Twilio's signature of `url` and `params`. Always true with no validator
    (signatures not enforced: the runtime refuses to expose such a server unless told to)."""
    if validator is None:
        return True
    signature = headers.get(SIGNATURE_HEADER, "")
    algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
    return bool(signature) and validator.validate(url, params, signature, algorithm)


def valid_sid(kind: str, text: str) -> bool:
    """Twilio's SID shape: two letters and 32 hex digits ("CA…" a call, "MZ…" a stream, "AC…"
    an account). Anything else is refused before it reaches a log, a store or a REST path."""
    return _SID[kind].fullmatch(text) is not None


class StreamTickets:
    """One-time tickets, one per call that /voice answered, each good once and for a minute."""

    def __init__(self, ttl_s: float = TICKET_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._ttl_s = ttl_s
        self._clock = clock
        self._open: OrderedDict[str, tuple[str, float]] = OrderedDict()  # call -> (ticket, due)

    def issue(self, call_sid: str, worker: str = "") -> str:
        """A ticket for `call_sid` (one server: every ticket is its own, whatever `worker`)."""
        self._forget_expired()
        ticket = secrets.token_urlsafe(24)
        self._open[call_sid] = (ticket, self._clock() + self._ttl_s)
        self._open.move_to_end(call_sid)
        while len(self._open) > MAX_OPEN_TICKETS:
            self._open.popitem(last=False)
        return ticket

    def redeem(self, call_sid: str, ticket: str) -> bool:
        """True once for the ticket /voice gave this call, if it has not expired."""
        entry = self._open.pop(call_sid, None)
        if entry is None:
            return False
        expected, due = entry
        return self._clock() <= due and hmac.compare_digest(expected, ticket)

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._open and next(iter(self._open.values()))[1] < now:
            self._open.popitem(last=False)


class FleetTickets:
    """One-time tickets that /voice on any worker of a fleet issues for the worker it chose.

    A ticket carries the moment it lapses and a nonce, sealed with an HMAC over the call, the
    chosen worker's name and both. The key is derived from the Twilio auth token, which every
    worker of a fleet has (they serve one account, and check its signatures): so the chosen
    worker checks a ticket it never saw issued, and nothing on the call's path waits on Redis.
    The chosen worker takes each ticket once (it remembers those spent until they lapse), and no
    other worker takes it at all. Lapse times are wall-clock, compared across machines: the 60 s
    life leaves room for their clocks to differ by a few seconds.
    """

    def __init__(self, auth_token: str, worker: str, ttl_s: float = TICKET_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        # Its own key, not the token itself: a ticket's seal is never a valid Twilio signature.
        self._key = hashlib.sha256(b"voiceconsole fleet ticket\n" + auth_token.encode()).digest()
        self.worker = worker
        self._ttl_s = ttl_s
        self._clock = clock
        self._spent: OrderedDict[str, float] = OrderedDict()  # ticket -> when it lapses

    def issue(self, call_sid: str, worker: str = "") -> str:
        """A ticket for `call_sid` that only `worker` (default: this one) accepts."""
        body = f"{int(self._clock() + self._ttl_s)}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._seal(call_sid, worker or self.worker, body)}"

    def redeem(self, call_sid: str, ticket: str) -> bool:
        """True once for a ticket sealed for this call and this worker, before it lapses."""
        body, _, seal = ticket.rpartition(".")
        expected = self._seal(call_sid, self.worker, body).encode()
        if not (body and hmac.compare_digest(expected, seal.encode())):  # bytes: any text
            return False
        lapses = float(body.partition(".")[0])  # sealed by us: its shape is ours
        self._forget_lapsed()
        if lapses < self._clock() or ticket in self._spent:
            return False
        self._spent[ticket] = lapses
        while len(self._spent) > MAX_OPEN_TICKETS:
            self._spent.popitem(last=False)
        return True

    def _seal(self, call_sid: str, worker: str, body: str) -> str:
        message = f"{call_sid}\n{worker}\n{body}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _forget_lapsed(self) -> None:
        now = self._clock()
        while self._spent and next(iter(self._spent.values())) < now:
            self._spent.popitem(last=False)


class InboundBudget:
    """A token bucket over inbound messages: `rate` times real time, `burst_s` of frames ahead.
    `spend()` is False once the peer has sent more than that."""

    def __init__(self, rate: float, burst_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._per_s = rate * FRAMES_PER_S
        self._capacity = max(1.0, burst_s * FRAMES_PER_S)
        self._clock = clock
        self._tokens = self._capacity
        self._at = clock()

    def spend(self) -> bool:
        if self._per_s <= 0:
            return True  # the limit is off
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._per_s)
        self._at = now
        self._tokens -= 1
        return self._tokens >= 0
