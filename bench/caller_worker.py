"""Simulated callers in a process of their own, so their audio work does not skew the fakes'
timestamps. Prints what each caller heard as JSON (times are time.monotonic, shared by every
process on Linux), and this process's own loop lag, which delays its receive timestamps.

    python bench/caller_worker.py ws://127.0.0.1:PORT/media CALLS STAGGER_S TURNS [TURN_ENDS]

Each caller starts talking a random moment (uniform over STAGGER_S, seeded: the same every run)
after its greeting: independent callers, including the ones who happen to talk at once.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import Any

from pipeline import _caller  # noqa: I001 - pipeline sets sys.path
from probe_server import LagProbe


def record(caller: Any) -> dict[str, Any]:
    log = caller.log
    return {
        "log": {"speech": log.speech, "turn_starts": log.turn_starts, "clears": log.clears,
                "received_at": log.received_at, "errors": log.errors},
        "turn_first_frames": [frame.hex() for frame in caller.turn_first_frames],
        "started_at": caller.started_at,
    }


async def main(url: str, calls: int, stagger_s: float, turns: int, turn_ends: str) -> None:
    moments = random.Random(calls)
    callers = [_caller(url, moments.uniform(0, stagger_s), seed=i, turns=turns,
                       turn_ends=turn_ends)
               for i in range(calls)]
    probe = LagProbe()
    probing = asyncio.create_task(probe.run(), name="callers-lag-probe")
    await asyncio.gather(*(c.run() for c in callers))
    probing.cancel()
    print(json.dumps({"callers": [record(c) for c in callers], "loop_lag_ms": probe.summary()}))


if __name__ == "__main__":
    turn_ends = sys.argv[5] if len(sys.argv) > 5 else "sentence"
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]),
                     turn_ends))
