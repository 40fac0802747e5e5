"""Scaling bench: N concurrent simulated calls, headless and with the operator console running.

Same fakes, per-call script, arrivals and core split as bench/pipeline.py (Deepgram: 300 ms
endpointing, TTS first byte 80 ms; Groq: first token 150 ms at 200 tokens/s; each call: greeting,
three turns, one barge-in; callers start talking spread over 6 s, or in lockstep with
`--aligned`), and its measures are reused by import: voice-to-voice, own overhead, barge-in.
Three processes: the server (through bench/probe_server.py, which adds an event-loop lag probe
around the unchanged runtime; `--console`: the Textual app runs headless around it), the fakes
(this process) and the callers (bench/caller_worker.py).

Added here, per N:
- late frames, twice: as the server's pacer counts them (a frame sent more than 40 ms after its
  slot on the call's playout clock), and as the caller heard them: agent frames that reached
  the caller more than 40 ms after their slot on an ideal 20 ms playout schedule. A schedule
  starts at the first frame of each agent turn, and a turn is everything the caller receives
  between two of its own speech boundaries (or a `clear`), so a reply that stalls between two
  sentences counts, not only one that stalls inside one;
- event-loop lag p99 inside the server (oversleep of a 10 ms sleep);
- server CPU seconds and RSS growth per call, and the loop lag of the fakes and the callers
  (their lag delays their own timestamps).

    python bench/scaling.py                        # N = 1, 10, 50, 100; headless and console
    python bench/scaling.py --calls 1 --calls 10 --mode console
    python bench/scaling.py --calls 50 --until-breaks --mode headless

`--until-breaks` keeps doubling N after the last one until voice-to-voice p95 > 2 s or more than
1 % of frames are late (or N reaches --max-calls). JSON goes to stdout and bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ServerProcess, save_results, split_cores, spread  # noqa: I001 - sets sys.path
from pipeline import (
    STAGGER_S,
    TURNS,
    _barge_ins,
    _gap_breakdown,
    _latencies,
    _overheads,
    _run_callers,
    _server_env,
    _server_playout,
    reply_for,
)
from probe_server import LagProbe

from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq

PROBE = Path(__file__).with_name("probe_server.py")
DEFAULT_CALLS = (1, 10, 50, 100)
FRAME_S = 0.020
LATE_S = 0.040  # a frame this far behind its playout slot is an audible gap
BREAK_V2V_MS = 2000.0
BREAK_LATE_FRACTION = 0.01
SETTLE_S = 2.0  # between runs: let the previous server's sockets and threads wind down


class ProbedServer(ServerProcess):
    """common.ServerProcess, started through probe_server.py instead of `voiceconsole serve`."""

    startup_limit_s = 90.0  # the console's app starts around the runtime

    def __init__(self, env: dict[str, str], workdir: Path, console: bool,
                 cores: list[int] | None = None) -> None:
        super().__init__(env, workdir, cores)
        self.lag_file = workdir / "lag.json"
        self.console = console

    def argv(self) -> list[str]:
        argv = [sys.executable, str(PROBE), "--lag-file", str(self.lag_file)]
        return argv + (["--console"] if self.console else [])

    def restart_lag_samples(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)

    def lag(self) -> dict[str, Any]:
        """After stop(): the probe's percentiles (ms), written when SIGINT arrived."""
        try:
            return json.loads(self.lag_file.read_text())
        except (OSError, ValueError):
            return {}


def late_frames(callers: list[Any]) -> dict[str, Any]:
    late = total = 0
    for caller in callers:
        for window in _agent_turns(caller):
            for k, arrival in enumerate(window):
                total += 1
                late += arrival - (window[0] + k * FRAME_S) > LATE_S
    return {"late": late, "total": total,
            "fraction": round(late / total, 5) if total else None}


def _agent_turns(caller: Any) -> list[list[float]]:
    """Frame arrivals split at the caller's speech starts and ends and at each clear."""
    bounds = sorted({t for r in caller.log.speech for t in (r.get("start"), r.get("end"))
                     if t is not None}
                    | set(caller.log.clears))
    windows: list[list[float]] = [[] for _ in range(len(bounds) + 1)]
    index = 0
    for arrival in caller.log.received_at:
        while index < len(bounds) and arrival >= bounds[index]:
            index += 1
        windows[index].append(arrival)
    return [w for w in windows if w]


async def run(calls: int, console: bool, stagger_s: float,
              cores: dict[str, list[int]] | None) -> dict[str, Any]:
    script = [f"this is caller line number {i} about my booking" for i in range(calls * 10)]
    async with FakeDeepgram(script=script, first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            env = _server_env(deepgram, groq, workdir)
            server_cores = cores and cores["server"]
            server = await ProbedServer(env, Path(workdir), console, server_cores).start()
            try:
                measured = await _measure(server, calls, stagger_s)
            finally:
                await server.stop()
            lag = server.lag()  # read before the temporary directory goes
            playout = _server_playout(Path(workdir) / "bench.db")
        callers = measured.pop("callers")
        return {
            "calls": calls,
            "mode": "console" if console else "headless",
            "first_words_spread_s": stagger_s,
            "cores": cores or "shared",
            **measured,
            **_latencies(callers, TURNS),
            "own_overhead_ms": spread(_overheads(callers, deepgram, groq)),
            "own_overhead_by_handoff_ms": _gap_breakdown(callers, deepgram, groq),
            **_barge_ins(callers),
            "late_frames": late_frames(callers),
            "server_playout": playout,
            "event_loop_lag_ms": lag,
            "caller_errors": _errors(callers),
        }


async def _measure(server: ProbedServer, calls: int, stagger_s: float) -> dict[str, Any]:
    cpu_before, mem_before = server.cpu_seconds(), server.memory_mb()
    server.restart_lag_samples()
    fakes_lag = LagProbe()  # the fakes' loop: its lag inflates their timestamps
    probing = asyncio.create_task(fakes_lag.run(), name="fakes-lag-probe")
    started = time.monotonic()
    try:
        heard = await _run_callers(server.media_url, calls, stagger_s, TURNS)
    finally:
        probing.cancel()
    wall = time.monotonic() - started
    cpu, mem = server.cpu_seconds() - cpu_before, server.memory_mb()
    return {
        "callers": heard["callers"],
        "wall_s": round(wall, 1),
        "server_cpu_s_per_call": round(cpu / calls, 3),
        "server_cpu_share": round(cpu / wall, 2),  # 1.0 = one core busy the whole time
        "fakes_loop_lag_ms": fakes_lag.summary(),
        "callers_loop_lag_ms": heard["loop_lag_ms"],
        "rss_mb": {"before": mem_before["rss"], "after": mem["rss"], "peak": mem["peak"],
                   "growth_per_call": round((mem["peak"] - mem_before["rss"]) / calls, 2)},
    }


def _errors(callers: list[Any]) -> dict[str, Any]:
    failed = [c for c in callers if c.log.errors]
    sample = failed[0].errors[:3] if failed else []
    return {"calls_with_errors": len(failed), "sample": sample}


def broken(result: dict[str, Any]) -> bool:
    p95 = result["voice_to_voice_ms"]["p95"]
    fraction = result["late_frames"]["fraction"] or 0.0
    return (p95 is None or p95 > BREAK_V2V_MS) or fraction > BREAK_LATE_FRACTION


async def sweep(counts: list[int], modes: list[str], until_breaks: bool, max_calls: int,
                stagger_s: float, cores: dict[str, list[int]] | None) -> list[dict[str, Any]]:
    results = []
    for mode in modes:
        for calls in _schedule(counts, until_breaks, max_calls):
            result = await run(calls, mode == "console", stagger_s, cores)
            results.append(result)
            print(json.dumps(_headline(result)), file=sys.stderr, flush=True)
            await asyncio.sleep(SETTLE_S)  # not synchronisation: lets the old process go
            if until_breaks and calls >= counts[-1] and broken(result):
                break
    return results


def _schedule(counts: list[int], until_breaks: bool, max_calls: int):
    yield from counts
    calls = counts[-1]
    while until_breaks and calls * 2 <= max_calls:
        calls *= 2
        yield calls


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    return {"calls": result["calls"], "mode": result["mode"],
            "v2v_p95": result["voice_to_voice_ms"]["p95"],
            "overhead_p95": result["own_overhead_ms"]["p95"],
            "late": result["late_frames"]["fraction"],
            "server_late": result["server_playout"]["late_frames"],
            "lag_p99": result["event_loop_lag_ms"].get("p99"),
            "server_cpu_share": result["server_cpu_share"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, action="append", help="concurrent calls (repeat)")
    parser.add_argument("--mode", choices=("headless", "console", "both"), default="both")
    parser.add_argument("--until-breaks", action="store_true",
                        help="double N after the last --calls until p95 > 2 s or late > 1 %%")
    parser.add_argument("--max-calls", type=int, default=800, help="--until-breaks stops here")
    parser.add_argument("--aligned", action="store_true",
                        help="all callers talk in lockstep (worst-case bursts)")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the server, fakes and callers share every core")
    args = parser.parse_args()
    counts = sorted(args.calls or DEFAULT_CALLS)
    modes = ["headless", "console"] if args.mode == "both" else [args.mode]
    stagger_s = 0.0 if args.aligned else STAGGER_S
    cores = split_cores(args.shared_cores)
    results = asyncio.run(sweep(counts, modes, args.until_breaks, args.max_calls, stagger_s,
                                cores))
    path = save_results("scaling", results)
    print(json.dumps(results, indent=2))
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
