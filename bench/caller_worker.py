"""Simulated callers in a process of their own, so their audio work does not skew the fakes'
timestamps. Prints what each caller heard as JSON (times are time.monotonic, shared by every
process on Linux).

    python bench/caller_worker.py ws://127.0.0.1:PORT/media CALLS
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pipeline import _caller  # noqa: I001 - pipeline sets sys.path


def record(caller: Any) -> dict[str, Any]:
    return {
        "speech": caller.speech,
        "turn_starts": caller.turn_starts,
        "turn_first_frames": [frame.hex() for frame in caller.turn_first_frames],
        "started_at": caller.started_at,
        "clears": caller.clears,
        "received_at": caller.received_at,
    }


async def main(url: str, calls: int) -> None:
    callers = [_caller(url) for _ in range(calls)]
    await asyncio.gather(*(c.run() for c in callers))
    print(json.dumps([record(c) for c in callers]))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
