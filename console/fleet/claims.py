"""Take-over is exclusive across the fleet: one operator holds a call at a time.

A console claims a call with SET keys.claim(sid) NX PX before it takes the call over, renews it
every third of the TTL while the operator holds it, and deletes it when they hand back. A second
console's take-over finds the key and is refused with who holds it. A console that dies (or
loses Redis) stops renewing, so its claim lapses after `fleet.claim_ttl_s` and the call can be
taken again: nobody has to clean up after it.

Renewing and releasing compare the value first (in one Lua script, so nothing runs between the
compare and the write): a claim that lapsed and was taken by someone else is never extended or
deleted by its former holder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from console.fleet import keys
from console.fleet.tail import stop_tasks

log = logging.getLogger(__name__)

RENEWALS_PER_TTL = 3  # a claim survives two missed renewals (a slow loop, a Redis blip)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Holder:
    """Who holds a call: the operator's name and the console they are at."""

    actor: str
    console: str
    since: float

    def encode(self) -> str:
        return json.dumps({"actor": self.actor, "console": self.console, "since": self.since})

    @classmethod
    def decode(cls, raw: bytes | str | None) -> Holder | None:
        """None for no claim; a value we cannot read still names someone, so it still holds."""
        if raw is None:
            return None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            data = json.loads(text)
            return cls(str(data["actor"]), str(data["console"]), float(data["since"]))
        except (ValueError, KeyError, TypeError):
            return cls(text, "unknown", 0.0)


class ClaimRefused(RuntimeError):
    """Another operator holds the call."""

    def __init__(self, call_sid: str, holder: Holder) -> None:
        super().__init__(f"{holder.actor} has this call (console {holder.console})")
        self.call_sid = call_sid
        self.holder = holder


Lost = Callable[[str, Holder], None]
"""Told when one of our claims was found gone at renewal (it lapsed: Redis was out of reach for
longer than the TTL, or was restarted empty)."""


class Claims:
    """This console's claims, kept alive while held."""

    def __init__(self, client: aioredis.Redis, console: str, ttl_s: float,
                 on_lost: Lost | None = None) -> None:
        self._redis = client
        self.console = console
        self._ttl_ms = int(ttl_s * 1000)
        self._on_lost = on_lost
        self._held: dict[str, Holder] = {}
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._renewing: asyncio.Task[None] | None = None
        self._stopping = False

    def holds(self, call_sid: str) -> bool:
        return call_sid in self._held

    async def holder(self, call_sid: str) -> Holder | None:
        return Holder.decode(await self._redis.get(keys.claim(call_sid)))

    async def claim(self, call_sid: str, actor: str) -> bool:
        """Hold the call for `actor`: True when newly claimed, False when we held it already.
        Raises ClaimRefused when someone else holds it."""
        held = self._held.pop(call_sid, None)
        if held is not None and await self._extend(call_sid, held):
            self._held[call_sid] = held
            return False
        mine = Holder(actor, self.console, time.time())
        for _ in range(2):  # a claim that lapses between our SET and GET: one more try settles it
            if await self._redis.set(keys.claim(call_sid), mine.encode(), nx=True,
                                     px=self._ttl_ms):
                self._held[call_sid] = mine
                return True
            holder = await self.holder(call_sid)
            if holder is not None:
                raise ClaimRefused(call_sid, holder)
        raise ClaimRefused(call_sid, Holder("someone", "unknown", 0.0))

    async def release(self, call_sid: str) -> Holder | None:
        """Let go of the call; returns our hold, or None if we had none (any more: a claim of
        ours that lapsed is left to whoever holds the call now)."""
        mine = self._held.pop(call_sid, None)
        if mine is None:
            return None
        deleted = await self._release(keys=[keys.claim(call_sid)], args=[mine.encode()])
        return mine if deleted else None

    def forget(self, call_sid: str) -> None:
        """Stop renewing without a round trip (the call ended: its claim lapses by itself)."""
        self._held.pop(call_sid, None)

    def held(self) -> dict[str, Holder]:
        return dict(self._held)

    # --- renewal -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._renewing is None:
            self._stopping = False
            self._renewing = asyncio.create_task(self._keep_renewing(), name="fleet claims renewal")

    async def stop(self) -> None:
        """Stop renewing (claims still held lapse after their TTL; `release` them first to let
        go at once)."""
        if self._renewing is not None:
            await stop_tasks({self._renewing}, self._stop_flag)
            self._renewing = None

    def _stop_flag(self) -> None:
        self._stopping = True

    async def _keep_renewing(self) -> None:
        period = self._ttl_ms / 1000 / RENEWALS_PER_TTL
        while not self._stopping:
            await asyncio.sleep(period)  # a timer, not a wait for something: renewal is periodic
            try:
                await self.renew_all()
            except RedisError as error:  # the claims lapse if this lasts longer than the TTL
                log.warning("could not renew the operator's claims: %s", error)

    async def renew_all(self) -> None:
        for call_sid, mine in list(self._held.items()):
            if not await self._extend(call_sid, mine):
                self._held.pop(call_sid, None)
                if self._on_lost is not None:
                    self._on_lost(call_sid, mine)

    async def _extend(self, call_sid: str, mine: Holder) -> bool:
        renewed = await self._renew(keys=[keys.claim(call_sid)],
                                    args=[mine.encode(), self._ttl_ms])
        return bool(renewed)
