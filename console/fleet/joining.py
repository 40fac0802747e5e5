"""What a console learns when it joins the fleet: each live call's snapshot, as the events that
draw it on the board.

The workers keep the set keys.LIVE_CALLS and one hash keys.call(sid) per live call (the
publisher). A console reads them once, then follows the stream. The hash fields read here, all
strings, only `worker` required:
    worker       the media worker the call runs on
    started_at   when the call started (epoch seconds; CallStarted.at)
    stream_sid, from_number, to_number, profile   as in the call's CallStarted
    state        the call's latest StateChanged.state
and keys.claim(sid) says who holds it (claims.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import redis.asyncio as aioredis

from console import events as ev
from console.fleet import keys
from console.fleet.claims import Holder
from console.fleet.tail import text


async def live_calls(client: aioredis.Redis) -> list[list[ev.CallEvent]]:
    """The events that draw each live call, one list per call (CallHosted first). One round
    trip for all the snapshots: a console joining a busy fleet reads hundreds."""
    sids = sorted(text(sid) for sid in await client.smembers(keys.LIVE_CALLS))
    async with client.pipeline(transaction=False) as pipe:
        for sid in sids:
            pipe.hgetall(keys.call(sid))
            pipe.get(keys.claim(sid))
        replies = await pipe.execute()
    drawn = []
    for index, sid in enumerate(sids):
        snapshot, claim = replies[2 * index], replies[2 * index + 1]
        fields = {text(key): text(value) for key, value in snapshot.items()}
        if events := snapshot_events(sid, fields, Holder.decode(claim)):
            drawn.append(events)
    return drawn


def snapshot_events(call_sid: str, fields: Mapping[str, str],
                    claim: Holder | None = None) -> list[ev.CallEvent]:
    """A call's snapshot as events: none when it names no worker (it is being written, or is
    not a snapshot at all)."""
    worker = fields.get("worker")
    if not worker:
        return []
    at = _float(fields.get("started_at"))
    events: list[ev.CallEvent] = [
        ev.CallHosted(call_sid, worker=worker, at=at),
        ev.CallStarted(call_sid, stream_sid=fields.get("stream_sid", ""),
                       from_number=fields.get("from_number", ""),
                       to_number=fields.get("to_number", ""),
                       profile=fields.get("profile", ""), at=at),
    ]
    if fields.get("state"):
        events.append(ev.StateChanged(call_sid, state=fields["state"]))
    if claim is not None:
        events.append(ev.CallClaimed(call_sid, holder=claim.actor, console=claim.console))
    return events


def _float(value: str | None) -> float:
    try:
        return float(value) if value else time.time()
    except ValueError:
        return time.time()
