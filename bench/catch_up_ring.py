"""Catch-up ring cost (issue 15): what keeping every live call's last 15 s costs, at N calls.

Each call's ring (console/audio_ring.py) is fed as a session feeds its taps: one 20 ms caller
frame every 20 ms, and agent frames half the time (the agent talks about half a call). The bench
pushes `--seconds` of that for `--calls` calls through the rings, in this process, and reports
the CPU per second of call (compare bench/recording_cost.py: the server spends ~9 ms of CPU per
second of call) and the memory the rings hold. A catch-up copy (what pressing `c` costs the loop)
is timed too.

    python bench/catch_up_ring.py                  # 50 calls, 60 s of call each

JSON goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

from console.audio_ring import CallRing

FRAME = bytes(range(160))


def feed(rings: list[CallRing], seconds: int) -> float:
    """CPU seconds to feed every ring `seconds` of call (50 frames a second per leg)."""
    started = time.process_time()
    for tick in range(seconds * 50):
        talking = (tick // 150) % 2 == 0  # 3 s turns: the agent, then the caller
        for ring in rings:
            ring.add("caller", FRAME)
            if talking:
                ring.add("agent", FRAME)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    tracemalloc.start()
    rings = [CallRing() for _ in range(args.calls)]
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cpu = feed(rings, args.seconds)
    started = time.perf_counter()
    for ring in rings:
        ring.copy()
    copy_ms = (time.perf_counter() - started) * 1000 / len(rings)
    call_seconds = args.calls * args.seconds
    print(json.dumps({
        "calls": args.calls,
        "seconds_of_call_each": args.seconds,
        "cpu_ms_per_second_of_call": round(cpu * 1000 / call_seconds, 4),
        "cpu_share_of_one_core_at_these_calls_pct": round(cpu / args.seconds * 100, 3),
        "memory_mb_all_rings": round(held / 1e6, 2),
        "memory_kb_per_call": round(held / 1e3 / args.calls, 1),
        "catch_up_copy_ms": round(copy_ms, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
