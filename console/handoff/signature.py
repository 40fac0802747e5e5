"""X-Voiceconsole-Signature: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

The timestamp is signed with the body, so a receiver can refuse a replay of an old delivery
(docs/webhook.md suggests 5 minutes of tolerance), the scheme Stripe and Slack use.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Voiceconsole-Signature"
IDEMPOTENCY_HEADER = "X-Voiceconsole-Idempotency-Key"
ATTEMPT_HEADER = "X-Voiceconsole-Attempt"
TOLERANCE_S = 300


def digest(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: float,
           tolerance_s: float = TOLERANCE_S) -> bool:
    """What a receiver does: the signature matches, and it was made within the tolerance."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = digest(secret, timestamp, body)
    fresh = abs(now - timestamp) <= tolerance_s
    return fresh and hmac.compare_digest(expected, parts.get("v1", ""))
