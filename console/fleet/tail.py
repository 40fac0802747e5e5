"""Following a Redis stream from "now" on, shared by the consoles and the workers' control."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT, XReadResponse

Fields = dict[bytes | str, bytes | str]

START = "0-0"  # before every entry


async def newest_id(client: aioredis.Redis, stream: str) -> str:
    """The id of the stream's newest entry (START for none): an XREAD after it gets only what
    comes next, without the gap "$" would leave between one XREAD and the next."""
    newest = await client.xrevrange(stream, count=1)
    entry_id = newest[0][0] if newest else None
    return text(entry_id) if entry_id is not None else START


def text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


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


def read_entries(replies: XReadResponse) -> list[tuple[str, Fields]]:
    """The (id, fields) entries of an XREAD of one stream, in order. The client answers a list
    of [stream, entries] pairs (RESP2) or a dict by stream (RESP3): both are read."""
    # Any: the client's reply types differ by protocol; each level is checked as it is read.
    per_stream: list[Any] = list(replies.values()) if isinstance(replies, dict) else \
        [pair[1] for pair in replies]
    found: list[tuple[str, Fields]] = []
    for entries in per_stream:
        for item in entries:
            nested = item if isinstance(item, list) else [item]  # RESP3 may nest one deeper
            found.extend(_entry(each) for each in nested if each[0] is not None)
    return found


def _entry(item: tuple[bytes | str | None, Fields | None]) -> tuple[str, Fields]:
    entry_id, fields = item
    return text(entry_id or START), fields or {}
