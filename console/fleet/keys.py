"""Every Redis key the fleet uses, in one place, so that workers, consoles and the recorder
agree on them. All live under one prefix so a shared Redis can hold other things too."""

from __future__ import annotations

PREFIX = "vc:"

EVENTS = PREFIX + "events"
"""The fleet's call events, one stream for all workers (XADD MAXLEN ~ fleet.stream_maxlen)."""

RECORDERS = "recorders"
"""The consumer group the recorders read EVENTS through."""

LIVE_CALLS = PREFIX + "calls"
"""Set of the call SIDs that are live anywhere in the fleet."""


def worker(name: str) -> str:
    """A worker's heartbeat: a JSON string whose TTL is three heartbeats (registry.py)."""
    return f"{PREFIX}worker:{name}"


WORKER_PATTERN = PREFIX + "worker:*"


def drain(name: str) -> str:
    """Set by `voiceconsole serve --drain NAME`: that worker takes no new calls, finishes its
    live ones and exits (it deletes the key as it leaves)."""
    return f"{PREFIX}drain:{name}"


def call(call_sid: str) -> str:
    """A live call's snapshot (hash): its worker, profile, state, and what a console needs to
    draw it on joining."""
    return f"{PREFIX}call:{call_sid}"


def control(worker_name: str) -> str:
    """A worker's control stream: operator actions for the calls it owns."""
    return f"{PREFIX}control:{worker_name}"


def claim(call_sid: str) -> str:
    """The operator holding a call (SET NX with a TTL, renewed while they hold it)."""
    return f"{PREFIX}claim:{call_sid}"


def conversation(call_sid: str) -> str:
    """What another worker needs to continue the call if its worker dies (failover)."""
    return f"{PREFIX}conversation:{call_sid}"
