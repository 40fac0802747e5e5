"""Fleet bench (issue 17): calls held by one media worker against two, on this 2-core machine;
the Redis round trip an operator action gains in a fleet; and the Redis work per call.

    python bench/fleet.py                     # the search for 1 and 2 workers, then the actions
    python bench/fleet.py --quick             # smoke test: 10 calls on 1 and on 2 workers
    python bench/fleet.py --start 75 --step 25 --max-calls 400 --action-calls 20
    python bench/fleet.py --load-on any       # the load on any core (one worker leaves it a core)
    python bench/fleet.py --load-on spare     # 3+ cores: the load only on cores no worker uses
    python bench/fleet.py --load-nice 19      # the load (and Redis) yield their cores to workers

Processes: a real redis-server on a loopback port in a temporary folder (as tests/fleet/conftest.py
starts them); each worker a `voiceconsole serve` with VOICECONSOLE_FLEET_URL set, pinned to a core
of its own (worker 1 to core 0, worker 2 to core 1); the fakes in this process and the callers in
bench/lean_callers.py, by default on the step's workers' cores and no other (like for like: one
worker shares core 0 with its load, two share both cores with theirs). With `--load-on any` one
worker leaves its load the other core while two share both with it, so two can hold at most
2/(1+X/S) times one (X: the load's CPU per call, S: a worker's), whatever the fleet does: the JSON's
`cpu_bound_ratio`, 1.47 on this machine's measured X/S (docs/scaling.md, "Results"). The fakes are
bench/pipeline.py's (Deepgram: 300 ms endpointing, realistic interims, TTS first byte 80 ms and 60
ms of audio per character; Groq: first token 150 ms at 200 tokens/s), with the recognizer's speech
test looked up rather than computed (bench/lean_fakes.py says why that changes no timing). Each call
is bench/pipeline.py's (greeting, three turns of real speech each waiting for the answer, a barge-in
700 ms into the last answer); callers start talking at a random moment within 6 s of their greeting;
calls ring at moments spread evenly over --ramp-s (3 s). Each call rings /voice on a worker (round
robin, as a load balancer in front of the fleet would) and streams where the TwiML sends it: the
worker the fleet chose, the least loaded. Workers get capacity and max_calls far above the load, so
routing alone spreads the calls; the JSON says how they were spread.

Held: the most calls with voice-to-voice p95 <= 600 ms, no frame late (0 sent late by any
worker's pacer, from the PlayoutMeasured events the workers publish on the fleet's stream, and
0 heard late at the caller: bench/scaling.py's two counts) and no call failing. One worker's
search starts at --start calls and moves by --step, two workers' at twice both (the same calls
per worker); each goes up a step while the step holds, down a step at a time when the first one
does not, then halves the gap between the last held and the first failed twice. A failed step
is run again (--retries) before it counts. The two searches take turns, a step each, so that a
host slower for a few minutes slows both alike. Each step is a fresh Redis and fresh
workers.

Also per step: each worker's CPU (seconds and share of its core), the load side's (this process:
the fakes; the callers' process) as CPU seconds per call and share of the machine's two cores,
Redis's CPU, loop lag of the fakes and callers (theirs delays their own timestamps), and Redis's
work from INFO before and after the calls: commands (by command), and bytes in and out, per call
and per second of call (the sum of the calls' durations).

Operator actions: a fleet console (console/fleet/backend.py, in this process) whispers to live
calls on two workers holding --action-calls calls, one at a time, each timed from the request to
the OperatorActed that comes back on the fleet's stream (RemoteControl returns then). The same
action in one process (a Runtime in this process, with one call) is timed from the request to
its OperatorActed on the bus. Reported: both spreads and the difference of their p50 and p95.
JSON goes to stdout and bench/results/.

Parts: bench/fleet_processes.py (Redis, the workers, a step), bench/fleet_measures.py (CPU, Redis
INFO, the workers' late frames), bench/fleet_actions.py (the operator actions), and the load:
bench/lean_callers.py, bench/lean_fakes.py and bench/websocket_frames.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from common import save_results
from fleet_actions import action_report, fleet_actions, one_process_actions
from fleet_measures import (
    cpu_report,
    cpu_snapshot,
    cpu_used,
    redis_counts,
    redis_report,
    server_playout,
)
from fleet_processes import CORES, Step
from lean_fakes import LeanDeepgram
from pipeline import STAGGER_S, TURNS, _barge_ins, _heard, _latencies, reply_for
from probe_server import LagProbe
from scaling import late_frames

from tests.fakes.groq_fake import FakeGroq

CALLERS = Path(__file__).with_name("lean_callers.py")
HELD_V2V_P95_MS = 600.0
RAMP_S = 3.0
QUICK = {"calls": 10, "turns": 1, "stagger_s": 1.0, "action_calls": 0, "actions": 20}
SETTLE_S = 1.0  # between steps: the previous workers' sockets wind down


# ---- one step: N calls on W workers -----------------------------------------------------------


async def run_step(workers: int, calls: int, options: argparse.Namespace,
                   actions: int = 0) -> dict[str, Any]:
    """A fresh fleet of `workers` (worker i pinned to core i), `calls` calls through it."""
    everywhere = os.sched_getaffinity(0)
    if options.load_on == "workers":  # the load shares the workers' cores, and no other
        os.sched_setaffinity(0, CORES[:workers])
    elif options.load_on == "spare":  # the same cores for 1 and 2 workers: none of theirs
        os.sched_setaffinity(0, CORES[2:])
    try:
        result = await _step(workers, calls, options, actions)
    finally:
        os.sched_setaffinity(0, everywhere)
    return {"load_on": options.load_on, **result}


async def _step(workers: int, calls: int, options: argparse.Namespace,
                actions: int) -> dict[str, Any]:
    script = [f"this is caller line number {i} about my booking" for i in range(calls * 10)]
    async with LeanDeepgram(script=script, first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as folder:
            async with Step(workers, deepgram, groq, Path(folder)) as step:
                nice = {"load": os.getpriority(os.PRIO_PROCESS, 0),
                        "workers": [worker.niceness() for worker in step.workers]}
                measured = await _measure(step, calls, options, actions)
                await step.stop_workers()
                playout = await server_playout(step.redis.url)
        measured["recognizer_table_misses"] = deepgram.misses
    return {"workers": workers, "calls": calls, **measured, "server_playout": playout,
            "niceness": nice, "held": None}


async def _measure(step: Step, calls: int, options: argparse.Namespace,
                   actions: int) -> dict[str, Any]:
    redis = aioredis.Redis.from_url(step.redis.url)
    try:
        before = await redis_counts(redis)
        cpu = cpu_snapshot(step)
        fakes_lag = LagProbe()
        probing = asyncio.create_task(fakes_lag.run(), name="fakes-lag-probe")
        acting = asyncio.create_task(fleet_actions(step.redis.url, actions, step.workdir),
                                     name="fleet-actions") if actions else None
        started = time.monotonic()
        try:
            heard = await _run_callers(step, calls, options)
        finally:
            probing.cancel()
        wall = time.monotonic() - started
        used = cpu_used(step, cpu, heard["cpu_s"])
        after = await redis_counts(redis)
        timed = await acting if acting is not None else None
    finally:
        await redis.aclose()
    callers = [_heard(record) for record in heard["callers"]]
    call_seconds = sum(record["duration_s"] for record in heard["callers"])
    return {
        "wall_s": round(wall, 1),
        **_latencies(callers, options.turns),
        "late_frames_heard": late_frames(callers),
        **_barge_ins(callers),
        "calls_with_errors": _errors(heard["callers"]),
        "calls_per_worker": dict(Counter(step.worker_of(r["stream_url"])
                                         for r in heard["callers"])),
        "cpu": cpu_report(used, calls, wall),
        "fakes_loop_lag_ms": _lag_headline(fakes_lag.summary()),
        "callers_loop_lag_ms": _lag_headline(heard["loop_lag_ms"]),
        "redis": redis_report(before, after, calls, call_seconds),
        **({"fleet_action_ms": timed} if timed is not None else {}),
    }


async def _run_callers(step: Step, calls: int, options: argparse.Namespace) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CALLERS), str(calls), str(options.stagger_s), str(options.ramp_s),
        str(options.turns), *(worker.voice_url for worker in step.workers),
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": _pythonpath()})
    try:
        out, _ = await proc.communicate()
    except BaseException:  # interrupted: the callers go too (nothing else would end them)
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"the callers' process failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


def _pythonpath() -> str:
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                            *([inherited] if inherited else [])])


def _errors(records: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in records if r["log"]["errors"] or not r["stream_url"]]
    return {"count": len(failed), "sample": failed[0]["log"]["errors"][:3] if failed else []}


def _lag_headline(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary.get(k) for k in ("p50", "p99", "max")}


# ---- the search ------------------------------------------------------------------------------


def held(result: dict[str, Any]) -> bool:
    p95 = result["voice_to_voice_ms"]["p95"]
    return (p95 is not None and p95 <= HELD_V2V_P95_MS
            and result["late_frames_heard"]["late"] == 0
            and result["server_playout"]["late_frames"] == 0
            and result["calls_with_errors"]["count"] == 0)


Search = Generator[int, bool, int]
"""Yields the calls to try next, is sent whether that step held, returns the most held."""


def search(start: int, step: int, max_calls: int, retries: int) -> Search:
    """The most calls held: up by `step` from `start` while held, down by `step` if `start` is
    not; then halving the gap between the last held and the first failed twice (to a quarter
    step). A step that fails is tried again `retries` times before it counts as failed."""
    def tried(calls: int) -> Generator[int, bool, bool]:
        for _ in range(1 + retries):  # a burst on a shared machine can fail one run
            if (yield calls):
                return True
        return False

    best, failed, calls = 0, None, start
    if (yield from tried(calls)):
        best = calls
        while calls + step <= max_calls:
            calls += step
            if not (yield from tried(calls)):
                failed = calls
                break
            best = calls
    else:
        failed = calls
        while calls - step > 0:
            calls -= step
            if (yield from tried(calls)):
                best = calls
                break
            failed = calls
    for _ in range(2):
        if failed is None or not best or (failed - best) // 2 < 1:
            break
        middle = best + (failed - best) // 2
        if (yield from tried(middle)):
            best = middle
        else:
            failed = middle
    return best


async def interleaved(searches: dict[int, Search],
                      options: argparse.Namespace
                      ) -> tuple[dict[int, int], dict[int, list[dict[str, Any]]]]:
    """Run the searches (workers -> its search) a step of each in turn, so that a host that is
    slower for some minutes slows one worker's steps and two workers' alike, instead of
    whichever search ran then."""
    best: dict[int, int] = {}
    runs: dict[int, list[dict[str, Any]]] = {workers: [] for workers in searches}
    asked = {workers: next(found) for workers, found in searches.items()}
    while asked:
        for workers, calls in list(asked.items()):
            result = await run_step(workers, calls, options)
            result["held"] = held(result)
            runs[workers].append(result)
            print(json.dumps(headline(result)), file=sys.stderr, flush=True)
            await asyncio.sleep(SETTLE_S)  # not synchronisation: lets the old processes go
            try:
                asked[workers] = searches[workers].send(result["held"])
            except StopIteration as done:
                best[workers] = done.value
                del asked[workers]
    return best, runs


def headline(result: dict[str, Any]) -> dict[str, Any]:
    cpu = result["cpu"]
    return {"workers": result["workers"], "calls": result["calls"], "held": result["held"],
            "v2v_p95": result["voice_to_voice_ms"]["p95"],
            "late_heard": result["late_frames_heard"]["late"],
            "late_sent": result["server_playout"]["late_frames"],
            "errors": result["calls_with_errors"]["count"],
            "per_worker": result["calls_per_worker"],
            "worker_core_share": {k: v["core_share"] for k, v in cpu["workers"].items()},
            "load_machine_share": cpu["load_side"]["machine_share"],
            "load_vs_workers": cpu["load_side"]["vs_workers"],
            "others_machine_share": cpu["others_machine_share"],
            "redis_cmds_per_call_s": result["redis"]["commands_per_call_second"]}


async def bench(options: argparse.Namespace) -> dict[str, Any]:
    if options.quick:
        one = await run_step(1, options.start, options)
        two = await run_step(2, options.start, options, actions=options.actions)
        for result in (one, two):
            result["held"] = held(result)
            print(json.dumps(headline(result)), file=sys.stderr, flush=True)
        held_by = {1: options.start if one["held"] else 0, 2: options.start if two["held"] else 0}
        runs = {1: [one], 2: [two]}
        fleet_timed = two.pop("fleet_action_ms")
    else:
        # Two workers search in steps twice one worker's: the same calls per worker, step by
        # step, so that both searches end at the same resolution per worker.
        held_by, runs = await interleaved({
            workers: search(options.start * workers, options.step * workers,
                            options.max_calls * workers, options.retries)
            for workers in (1, 2)}, options)
        timed = await run_step(2, options.action_calls, options, actions=options.actions)
        fleet_timed = timed.pop("fleet_action_ms")
        runs[2].append({**timed, "purpose": "operator actions"})
    with tempfile.TemporaryDirectory() as folder:
        one_timed = await one_process_actions(options.actions, Path(folder))
    return {
        "held_calls": {"1_worker": held_by[1], "2_workers": held_by[2],
                       "ratio": round(held_by[2] / held_by[1], 2) if held_by[1] else None,
                       "target_ratio": 1.8,
                       "cpu_bound_ratio": cpu_bound_ratio(runs[2], options.load_on)},
        "criteria": {"v2v_p95_ms_at_most": HELD_V2V_P95_MS, "late_frames": 0, "failed_calls": 0},
        "operator_action": action_report(fleet_timed, one_timed),
        "settings": {k: v for k, v in vars(options).items()},
        "runs": {"1_worker": runs[1], "2_workers": runs[2]},
    }


def cpu_bound_ratio(two_worker_runs: list[dict[str, Any]], load_on: str) -> float | None:
    """The most two workers can hold against one if a worker breaks at the same share of its
    core either way. With the load on any core, one worker leaves the load the other core,
    while two share both with it: at X CPU-s of load per call against a worker's S, that is
    2S/(S+X) = 2/(1+X/S), taken at the steps two workers held. With the load on the workers'
    cores only, both share alike: 2."""
    if load_on == "workers":
        return 2.0
    shares = [r["cpu"]["load_side"]["vs_workers"] for r in two_worker_runs if r.get("held")]
    if load_on != "any" or not shares:
        return None
    return round(2 / (1 + sum(shares) / len(shares)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 10 calls, one turn each, once on 1 and on 2 workers")
    parser.add_argument("--start", type=int, default=60,
                        help="calls of one worker's first step (two workers: twice this)")
    parser.add_argument("--step", type=int, default=20,
                        help="calls added per step for one worker (two workers: twice this)")
    parser.add_argument("--max-calls", type=int, default=300,
                        help="one worker's search stops here (two workers': twice this)")
    parser.add_argument("--turns", type=int, default=TURNS, help="caller turns per call")
    parser.add_argument("--stagger-s", type=float, default=STAGGER_S,
                        help="callers start talking within this long of their greeting")
    parser.add_argument("--ramp-s", type=float, default=RAMP_S,
                        help="calls ring at moments spread over this long")
    parser.add_argument("--action-calls", type=int, default=50,
                        help="calls on two workers while operator actions are timed")
    parser.add_argument("--actions", type=int, default=100, help="operator actions timed")
    parser.add_argument("--retries", type=int, default=1,
                        help="run a step that fails again this many times before it counts")
    parser.add_argument("--load-on", choices=("any", "workers", "spare"), default="workers",
                        help="the fakes, the callers and Redis run only on the step's workers' "
                             "cores (like for like; 1 worker: core 0), on any core, or only on "
                             "the cores after the first two (spare: needs 3 or more)")
    parser.add_argument("--load-nice", type=int, default=0,
                        help="niceness of this process (the fakes), the callers and Redis, so "
                             "that the workers' loops come first on a shared core")
    options = parser.parse_args()
    if options.load_on == "spare" and len(CORES) < 3:
        parser.error(f"--load-on spare needs 3 or more cores; this process may use {len(CORES)}")
    os.nice(options.load_nice)  # the workers start from ServerProcess at niceness 0
    if options.quick:
        for name, value in QUICK.items():
            if name == "calls":
                options.start = value
            elif name != "action_calls":
                setattr(options, name, value)
    results = asyncio.run(bench(options))
    path = save_results("fleet", results)
    print(json.dumps(results, indent=2))
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
