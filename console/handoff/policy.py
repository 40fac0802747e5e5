"""What an attempt's outcome means, and how long to wait before the next one. Pure.

- 2xx: delivered.
- 408, 425, 429 and 5xx, a timeout or a connection error: the receiver may take it later; retry
  with exponential backoff and jitter (a Retry-After it sends is honoured, up to the cap).
- Any other status (3xx, 4xx): the receiver refuses this request as it is, and the same bytes
  would be refused again; dead-lettered at once, for an operator to fix and retry.
- After the last allowed attempt: dead-lettered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["delivered", "retry", "dead"]
RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Wait after failed attempt number `attempt` (1-based): base * 2^(attempt-1), capped,
        then scaled by a random 0.5-1.0 so that many deliveries failed by one outage do not all
        come back in the same second."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(attempt - 1, 60))
        return ceiling * (0.5 + 0.5 * (rng or random).random())


def verdict(status: int | None) -> Verdict:
    """`status` None: no answer (timeout, refused connection, reset)."""
    if status is None or status >= 500 or status in RETRYABLE_STATUSES:
        return "retry"
    return "delivered" if 200 <= status < 300 else "dead"


def next_attempt_at(now: float, attempt: int, max_attempts: int, backoff: Backoff,
                    retry_after_s: float | None = None) -> float | None:
    """When to try again after failed attempt `attempt`, or None: dead-letter it."""
    if attempt >= max_attempts:
        return None
    wait = backoff.delay(attempt)
    if retry_after_s is not None:
        wait = min(backoff.cap_s, max(wait, retry_after_s))
    return now + wait


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is ignored: our own backoff applies)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
