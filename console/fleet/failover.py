"""Failover (issue 17): a live worker takes over a call whose worker died mid-call.

Twilio asks the `<Connect action>` (the fleet's front: any live worker) what next when a stream
ends. `Failover.orphaned` tells that worker whether the call is one to resume: its carried
conversation is in Redis (no end was published) and its owner is dead. A dead owner's heartbeat
key lives on for up to three beats, longer than a caller should wait, so a beat still there is
not taken as proof of life: the owner's /health is asked, and a refused or unanswered request
within PROBE_S means it is gone. `take_over` then reads the conversation for the new session and
hands it to this worker's publisher, which carries it on from there.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from console.fleet import keys
from console.fleet.carried import CarriedConversation
from console.fleet.publisher import FleetPublisher
from console.fleet.registry import REDIS_TROUBLE, WorkerBeat
from console.telephony.probe import answers

log = logging.getLogger(__name__)

# A live worker answers /health in milliseconds; the caller hears silence while we wait.
PROBE_S = 0.5


class Failover:
    """The server's resumer (console.telephony.placement.CallResumer) and the runtime's source
    of carried conversations (console.fleet.carried.ConversationSource)."""

    def __init__(self, redis: aioredis.Redis, worker: str, publisher: FleetPublisher) -> None:
        self._redis = redis
        self._worker = worker
        self._publisher = publisher

    async def orphaned(self, call_sid: str) -> bool:
        """The call's conversation is carried and the worker that ran it is dead. False when
        Redis cannot say (the caller then hears the call end, as without a fleet)."""
        try:
            carried, owner, incarnation = await self._carried_and_owner(call_sid)
            if not carried:
                return False  # ended, or never carried
            if owner == self._worker:  # ours (we know our calls), or our dead predecessor's
                return incarnation != self._publisher.incarnation
            beat = await self._redis.get(keys.worker(owner)) if owner else None
        except REDIS_TROUBLE as error:
            log.warning("failover: Redis could not say whether %s is orphaned: %s",
                        call_sid, error)
            return False
        seen = WorkerBeat.from_json(beat) if beat is not None else None
        return seen is None or not await answers(seen.url, PROBE_S)

    async def take_over(self, call_sid: str) -> CarriedConversation | None:
        """The call's conversation, now this worker's to carry; None if it is gone."""
        try:
            text = await self._redis.get(keys.conversation(call_sid))
        except REDIS_TROUBLE as error:
            log.warning("failover: could not read %s's conversation: %s", call_sid, error)
            return None
        if text is None:
            return None
        carried = CarriedConversation.from_json(text)
        self._publisher.continue_call(carried)
        return carried

    async def _carried_and_owner(self, call_sid: str) -> tuple[bool, str, str]:
        """Whether the call's conversation is carried; its owner's name and process."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(keys.conversation(call_sid))
        pipe.hmget(keys.call(call_sid), ["worker", "incarnation"])
        exists, (owner, incarnation) = await pipe.execute()
        return bool(exists), _text(owner), _text(incarnation)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")

