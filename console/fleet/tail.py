"""Following a Redis stream from "now" on, shared by the consoles and the workers' control."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

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


async def stop_tasks(tasks: set[asyncio.Task[None]], raise_flag: Callable[[], None]) -> None:
    """Stop loops that read Redis: raise their stop flag, then cancel them. The flag is not
    redundant: the client can swallow a cancellation that lands while a reply is being read
    and go on reading (seen with redis-py 8.2: the task stayed "cancelling" inside a blocking
    XREAD), and then the loop ends at its next turn instead of never."""
    raise_flag()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
