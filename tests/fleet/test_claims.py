"""Take-over is exclusive: one operator holds a call, in Redis, for as long as their console
renews the claim, and the call is free again when they let go or their console goes away."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from console.fleet import keys
from console.fleet.claims import ClaimRefused, Claims, Holder

from .helpers import CLAIM_TTL_S, client, poll

pytestmark = pytest.mark.timeout(20)

SID = "CA" + "3" * 32


@pytest.fixture
async def redis(redis_server) -> AsyncIterator[object]:
    connection = client(redis_server.url)
    yield connection
    await connection.aclose()


def console(redis, name: str, lost: list[tuple[str, Holder]] | None = None) -> Claims:
    told = (lambda sid, mine: lost.append((sid, mine))) if lost is not None else None
    return Claims(redis, name, CLAIM_TTL_S, on_lost=told)


async def test_a_second_console_is_refused_with_who_holds_the_call(redis) -> None:
    a, b = console(redis, "desk-a:11"), console(redis, "desk-b:22")
    assert await a.claim(SID, "alice") is True
    with pytest.raises(ClaimRefused) as refused:
        await b.claim(SID, "bob")
    assert str(refused.value) == "alice has this call (console desk-a:11)"
    assert (await b.holder(SID)).actor == "alice"


async def test_taking_a_call_one_already_holds_again_is_no_new_claim(redis) -> None:
    a = console(redis, "desk-a:11")
    assert await a.claim(SID, "alice") is True
    assert await a.claim(SID, "alice") is False
    assert a.holds(SID)


async def test_a_claim_renewed_by_its_console_outlives_its_ttl(redis) -> None:
    a, b = console(redis, "desk-a:11"), console(redis, "desk-b:22")
    await a.claim(SID, "alice")
    claimed = time.monotonic()
    a.start()
    try:
        async def still_held_two_ttls_later() -> bool:
            assert await redis.exists(keys.claim(SID)), "the claim lapsed while renewed"
            return time.monotonic() - claimed > 2 * CLAIM_TTL_S

        await poll(still_held_two_ttls_later, within=2 * CLAIM_TTL_S + 3)
        with pytest.raises(ClaimRefused):
            await b.claim(SID, "bob")
    finally:
        await a.stop()


async def test_a_claim_lapses_after_its_ttl_once_its_console_stops_renewing(redis) -> None:
    a, b = console(redis, "desk-a:11"), console(redis, "desk-b:22")
    await a.claim(SID, "alice")
    a.start()
    await a.stop()  # the console died, or lost Redis: nobody renews or releases
    stopped = time.monotonic()

    async def bob_gets_it() -> bool:
        try:
            return await b.claim(SID, "bob")
        except ClaimRefused:
            return False

    await poll(bob_gets_it, within=CLAIM_TTL_S + 2)
    waited = time.monotonic() - stopped
    assert CLAIM_TTL_S * 0.5 < waited < CLAIM_TTL_S + 1.5  # it lapsed by its TTL, not before
    assert (await a.holder(SID)).actor == "bob"


async def test_letting_go_frees_the_call_at_once(redis) -> None:
    a, b = console(redis, "desk-a:11"), console(redis, "desk-b:22")
    await a.claim(SID, "alice")
    assert (await a.release(SID)).actor == "alice"
    assert await b.claim(SID, "bob") is True


async def test_a_former_holder_neither_renews_nor_deletes_the_claim_that_replaced_its_own(
        redis) -> None:
    lost: list[tuple[str, Holder]] = []
    a, b = console(redis, "desk-a:11", lost), console(redis, "desk-b:22")
    await a.claim(SID, "alice")
    await redis.delete(keys.claim(SID))  # as if it lapsed while desk A was cut off
    await b.claim(SID, "bob")
    await a.renew_all()
    assert [(sid, mine.actor) for sid, mine in lost] == [(SID, "alice")] and not a.holds(SID)
    assert await a.release(SID) is None
    assert (await b.holder(SID)).actor == "bob"
