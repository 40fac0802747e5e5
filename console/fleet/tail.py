"""Following a Redis stream from "now" on, shared by the consoles and the workers' control."""

from __future__ import annotations

from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

START = "0-0"  # before every entry


async def newest_id(client: aioredis.Redis, stream: str) -> str:
    """The id of the stream's newest entry (START for none): an XREAD after it gets only what
    comes next, without the gap "$" would leave between one XREAD and the next."""
    newest = await client.xrevrange(stream, count=1)
    return text(newest[0][0]) if newest else START


def text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def id_order(entry_id: str) -> tuple[int, int]:
    """An entry id as numbers, to compare ("1700000000000-3" -> (1700000000000, 3))."""
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


def entry(fields: Mapping[str, str]) -> dict[FieldT, EncodableT]:
    """An entry's fields as XADD takes them (the client's mapping type is wider than ours)."""
    return {key: value for key, value in fields.items()}
