"""Where a new call's stream goes, when this server is one worker of a fleet (issue 17).

The wire knows nothing of Redis: the serve command hands the server a `CallPlacer` made by
console/fleet/worker.py, and /voice asks it, per call, which worker takes the call. Without one
(the embedded default) every call streams to this server, exactly as before there were fleets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Placement:
    """The worker chosen for a call: its name (the one-time ticket is sealed for it alone) and
    the base URL Twilio reaches it at (`https://w1.example.com`, or `http://127.0.0.1:8765` for a
    worker nobody outside this machine reaches)."""

    worker: str
    url: str

    @property
    def stream_url(self) -> str:
        """The `<Stream url>`: wss for an https base, ws for a plain one."""
        scheme, _, rest = self.url.rstrip("/").partition("://")
        return ("wss" if scheme == "https" else "ws") + f"://{rest}/media"


class CallPlacer(Protocol):
    """This server's seat in a fleet."""

    worker: str
    """This worker's name: the tickets that other workers seal for it are good here."""
    front_url: str | None
    """The fleet's public front (a load balancer that reaches any live worker), or None. Twilio
    asks it what next when a stream ends, so a call whose worker died still reaches a live one."""

    def place(self) -> Placement | None:
        """The worker that takes the next call, or None when every line of the fleet is busy.
        Answers from what the last heartbeat saw: /voice waits on no Redis round trip."""
        ...

    def health(self) -> dict[str, object]:
        """The seat's state for /health: heartbeat, Redis outage, draining."""
        ...


class CallResumer(Protocol):
    """Failover's question, asked when Twilio wants to know what next after a stream ended."""

    async def orphaned(self, call_sid: str) -> bool:
        """The call is not over: its conversation is kept, and the worker that ran it is dead.
        Then this worker takes it: /stream-ended streams it here again."""
        ...
