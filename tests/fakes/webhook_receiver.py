"""A CRM's webhook endpoint on 127.0.0.1: it verifies each delivery's signature the way
docs/webhook.md tells receivers to (its own HMAC code, not ours), records every request, and
answers with whatever status `answer` gives (a 503 outage, a 200, a 400 refusal).

How real receivers behave, and what this copies: they answer quickly with a bare status
(Stripe's and GitHub's webhook guides: 2xx to acknowledge, retry on 5xx), and de-duplicate on the
idempotency key, which is why `accepted_keys` is a list (a duplicate would show twice).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    status: int
    at: float = field(default_factory=time.time)

    @property
    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)  # the payload is a JSON object
        return document

    @property
    def attempt(self) -> int:
        return int(self.headers["X-Voiceconsole-Attempt"])


def verified(secret: str, header: str, body: bytes, tolerance_s: float = 300) -> bool:
    """docs/webhook.md's receiver check, written out independently of console.handoff."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = parts.get("t", "0")
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    fresh = abs(time.time() - int(timestamp)) <= tolerance_s
    return fresh and hmac.compare_digest(mac.hexdigest(), parts.get("v1", ""))


class WebhookReceiver(LoopbackServer):
    name = "webhook receiver"

    def __init__(self, secret: str, answer: Callable[[], int] = lambda: 200) -> None:
        super().__init__()
        self.secret = secret
        self.answer = answer
        self.requests: list[Delivery] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/calls", self._receive)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/calls"

    @property
    def accepted(self) -> list[Delivery]:
        return [r for r in self.requests if 200 <= r.status < 300 and r.signature_ok]

    @property
    def accepted_keys(self) -> list[str]:
        return [r.headers["X-Voiceconsole-Idempotency-Key"] for r in self.accepted]

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get("X-Voiceconsole-Signature", "")
        ok = verified(self.secret, header, body)
        status = self.answer() if ok else 401
        self.requests.append(Delivery(body, dict(request.headers), ok, status))
        self._notify()
        return web.Response(status=status, text="ok" if status < 300 else "not now")
