"""The fleet's tests run on a real Redis: the fixture's server answers the official client."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from console.fleet.connection import connect


def test_a_real_redis_answers_and_comes_back_after_a_restart(redis_server) -> None:
    async def round_trip() -> bytes | None:
        client = connect(SecretStr(redis_server.url))
        try:
            await client.set("vc:probe", "yes")
            return await client.get("vc:probe")
        finally:
            await client.aclose()

    assert asyncio.run(round_trip()) == b"yes"
    redis_server.stop()
    redis_server.start()
    assert asyncio.run(round_trip()) == b"yes"  # nothing saved: the key was set again
