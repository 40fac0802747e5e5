"""What bench/fleet.py reads off a step: CPU of every process (and of the rest of the machine),
Redis's work from INFO, and the workers' own count of late frames from the fleet's stream."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from common import CLOCK_TICKS
from fleet_processes import Step

from console import events as ev
from console.fleet import keys, wire


def _machine_busy() -> tuple[float, float]:
    """(busy, all) jiffies of every core since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def cpu_snapshot(step: Step) -> dict[str, float]:
    times = os.times()
    busy, every = _machine_busy()
    return {"machine_busy": busy / CLOCK_TICKS, "machine_all": every / CLOCK_TICKS,
            "fakes_user": times.user, "fakes_system": times.system,
            "redis": step.redis.cpu_seconds(),
            **{w.name: w.cpu_seconds() for w in step.workers}}


def cpu_used(step: Step, before: dict[str, float], callers: dict[str, float]
              ) -> dict[str, float]:
    now = cpu_snapshot(step)
    return {name: now[name] - before[name] for name in before} | {
        "callers_user": callers["user"], "callers_system": callers["system"]}


def cpu_report(used: dict[str, float], calls: int, wall: float) -> dict[str, Any]:
    """Seconds, and share: of a core for a worker (each has one), of the machine's cores for the
    load side (it may run on either)."""
    cores = os.cpu_count() or 1
    fakes = used["fakes_user"] + used["fakes_system"]
    callers = used["callers_user"] + used["callers_system"]
    load = fakes + callers
    workers = {k: v for k, v in used.items() if k.startswith("w")}
    return {
        "workers": {k: {"s": round(v, 1), "core_share": round(v / wall, 2)}
                    for k, v in workers.items()},
        "worker_s_per_call": round(sum(workers.values()) / calls, 3),
        "load_side": {"fakes_s": round(fakes, 1), "callers_s": round(callers, 1),
                      "system_s": round(used["fakes_system"] + used["callers_system"], 1),
                      "s_per_call": round(load / calls, 3),
                      "machine_share": round(load / wall / cores, 2),
                      "vs_workers": round(load / max(sum(workers.values()), 1e-9), 2)},
        "redis": {"s": round(used["redis"], 2), "core_share": round(used["redis"] / wall, 3)},
        # Everything this run did not start (other users of a shared machine): its share of
        # the cores. High means the numbers above were taken on a busy machine.
        "others_machine_share": round(max(0.0, used["machine_busy"] - load - used["redis"]
                                          - sum(workers.values()))
                                      / max(used["machine_all"], 1e-9), 2),
        "load_average": os.getloadavg()[0],
    }


async def redis_counts(client: aioredis.Redis) -> dict[str, Any]:
    stats = await client.info("stats")
    commands = await client.info("commandstats")
    return {"commands": int(stats["total_commands_processed"]),
            "in": int(stats["total_net_input_bytes"]), "out": int(stats["total_net_output_bytes"]),
            "by_command": {k.removeprefix("cmdstat_"): int(v["calls"])
                           for k, v in commands.items()}}


def redis_report(before: dict[str, Any], after: dict[str, Any], calls: int,
                  call_seconds: float) -> dict[str, Any]:
    """What the workers asked of Redis while the calls ran (the bench's own INFO: 2 commands)."""
    ops = after["commands"] - before["commands"] - 2
    by_command = {name: count - before["by_command"].get(name, 0)
                  for name, count in after["by_command"].items()}
    by_command = {k: v for k, v in sorted(by_command.items(), key=lambda kv: -kv[1]) if v > 0}
    per = max(call_seconds, 1e-9)
    return {
        "commands": ops, "by_command": by_command,
        "commands_per_call": round(ops / calls, 1),
        "commands_per_call_second": round(ops / per, 2),
        "bytes_in_per_call_second": round((after["in"] - before["in"]) / per),
        "bytes_out_per_call_second": round((after["out"] - before["out"]) / per),
        "call_seconds": round(call_seconds, 1),
    }


async def server_playout(redis_url: str) -> dict[str, Any]:
    """The workers' pacers' own account (PlayoutMeasured, one per call), read off the fleet's
    stream: workers keep no history of their own."""
    client = aioredis.Redis.from_url(redis_url)
    sent = late = 0
    worst = 0.0
    try:
        for _, fields in await client.xrange(keys.EVENTS):
            published = wire.decode(fields)
            if published is not None and isinstance(published.event, ev.PlayoutMeasured):
                sent += published.event.frames_sent
                late += published.event.late_frames
                worst = max(worst, published.event.worst_lateness_ms)
    finally:
        await client.aclose()
    return {"frames_sent": sent, "late_frames": late, "worst_lateness_ms": round(worst, 1)}


