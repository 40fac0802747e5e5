"""Scaling bench: N concurrent simulated calls, headless and with the operator console running.

Same fakes and per-call script as bench/pipeline.py (Deepgram: 300 ms endpointing, TTS first
byte 80 ms; Groq: first token 150 ms at 200 tokens/s; each call: greeting, three turns, one
barge-in), and its measures are reused by import: voice-to-voice, own overhead, barge-in. The
server runs in its own process through bench/probe_server.py, which adds an event-loop lag probe
around the unchanged runtime (`--console`: the Textual app runs headless around it).

Added here, per N:
- late frames: agent frames that reached the caller more than 40 ms after their slot on an ideal
  20 ms playout schedule. A schedule starts at the first frame of each agent turn, and a turn
  is everything the caller receives between two of its own speech boundaries (or a `clear`),
  so a reply that stalls between two sentences counts, not only one that stalls inside one;
- event-loop lag p99 inside the server (oversleep of a 10 ms sleep);
- server CPU seconds and RSS growth per call, and the bench process's own CPU (fakes + callers
  share that process: on a 2-core machine it competes with the server).

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
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, ServerProcess, spread  # noqa: I001 - sets sys.path for tests.fakes
from pipeline import _barge_ins, _caller, _latencies, _overheads, _server_env, reply_for
from probe_server import LagProbe

from console.simulate.caller import SimulatedCaller
from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq

PROBE = Path(__file__).with_name("probe_server.py")
RESULTS = ROOT / "bench" / "results"
DEFAULT_CALLS = (1, 10, 50, 100)
FRAME_S = 0.020
LATE_S = 0.040  # a frame this far behind its playout slot is an audible gap
BREAK_V2V_MS = 2000.0
BREAK_LATE_FRACTION = 0.01
SETTLE_S = 2.0  # between runs: let the previous server's sockets and threads wind down


class ProbedServer(ServerProcess):
    """common.ServerProcess, started through probe_server.py instead of `voiceconsole serve`."""

    def __init__(self, env: dict[str, str], workdir: Path, console: bool) -> None:
        super().__init__(env, workdir)
        self.lag_file = workdir / "lag.json"
        self.console = console

    async def start(self) -> ProbedServer:
        argv = [sys.executable, str(PROBE), "--lag-file", str(self.lag_file)]
        self.proc = await asyncio.create_subprocess_exec(
            *argv, *(["--console"] if self.console else []), cwd=self.workdir, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        try:
            await self._wait_until_listening()
        except BaseException:
            self.proc.kill()  # never leave a half-started server behind
            raise
        return self

    async def _wait_until_listening(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(90):
            while not self.media_url:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError("probe server exited before listening")
                if line.startswith("voiceconsole serving: media "):
                    self.media_url = line.split()[-1]

    def restart_lag_samples(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)

    def lag(self) -> dict[str, Any]:
        """After stop(): the probe's percentiles (ms), written when SIGINT arrived."""
        try:
            return json.loads(self.lag_file.read_text())
        except (OSError, ValueError):
            return {}


def late_frames(callers: list[SimulatedCaller]) -> dict[str, Any]:
    late = total = 0
    for caller in callers:
        for window in _agent_turns(caller):
            for k, arrival in enumerate(window):
                total += 1
                late += arrival - (window[0] + k * FRAME_S) > LATE_S
    return {"late": late, "total": total,
            "fraction": round(late / total, 5) if total else None}


def _agent_turns(caller: SimulatedCaller) -> list[list[float]]:
    """Frame arrivals split at the caller's speech starts and ends and at each clear."""
    bounds = sorted({t for r in caller.speech for t in (r.get("start"), r.get("end"))
                     if t is not None}
                    | set(caller.clears))
    windows: list[list[float]] = [[] for _ in range(len(bounds) + 1)]
    index = 0
    for arrival in caller.received_at:
        while index < len(bounds) and arrival >= bounds[index]:
            index += 1
        windows[index].append(arrival)
    return [w for w in windows if w]


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(calls: int, console: bool, barge_in_words: int = 2) -> dict[str, Any]:
    script = [f"this is caller line number {i} about my booking" for i in range(calls * 10)]
    async with FakeDeepgram(script=script, first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            env = _server_env(deepgram, groq, workdir, barge_in_words)
            server = await ProbedServer(env, Path(workdir), console).start()
            try:
                measured = await _measure(server, calls)
            finally:
                await server.stop()
            lag = server.lag()  # read before the temporary directory goes
        callers = measured.pop("callers")
        return {
            "calls": calls,
            "mode": "console" if console else "headless",
            **measured,
            **_latencies(callers),
            "own_overhead_ms": spread(_overheads(callers, deepgram, groq)),
            **_barge_ins(callers),
            "late_frames": late_frames(callers),
            "event_loop_lag_ms": lag,
            "caller_errors": _errors(callers),
        }


async def _measure(server: ProbedServer, calls: int) -> dict[str, Any]:
    cpu_before, mem_before, bench_before = server.cpu_seconds(), server.memory_mb(), _cpu_self()
    callers = [_caller(server.media_url) for _ in range(calls)]
    server.restart_lag_samples()
    own_lag = LagProbe()  # the bench's loop too: a late arrival may be the caller's own delay
    probing = asyncio.create_task(own_lag.run(), name="bench-lag-probe")
    started = time.monotonic()
    try:
        await asyncio.gather(*(c.run() for c in callers))
    finally:
        probing.cancel()
    wall = time.monotonic() - started
    cpu, mem, bench_cpu = server.cpu_seconds() - cpu_before, server.memory_mb(), _cpu_self()
    return {
        "callers": callers,
        "wall_s": round(wall, 1),
        "server_cpu_s_per_call": round(cpu / calls, 3),
        "server_cpu_share": round(cpu / wall, 2),  # 1.0 = one core busy the whole time
        "bench_cpu_s": round(bench_cpu - bench_before, 1),
        "bench_cpu_share": round((bench_cpu - bench_before) / wall, 2),
        "bench_loop_lag_ms": own_lag.summary(),
        "rss_mb": {"before": mem_before["rss"], "after": mem["rss"], "peak": mem["peak"],
                   "growth_per_call": round((mem["peak"] - mem_before["rss"]) / calls, 2)},
    }


def _errors(callers: list[SimulatedCaller]) -> dict[str, Any]:
    failed = [c for c in callers if c.errors]
    sample = failed[0].errors[:3] if failed else []
    return {"calls_with_errors": len(failed), "sample": sample}


def broken(result: dict[str, Any]) -> bool:
    p95 = result["voice_to_voice_ms"]["p95"]
    fraction = result["late_frames"]["fraction"] or 0.0
    return (p95 is None or p95 > BREAK_V2V_MS) or fraction > BREAK_LATE_FRACTION


async def sweep(counts: list[int], modes: list[str], until_breaks: bool,
                max_calls: int) -> list[dict[str, Any]]:
    results = []
    for mode in modes:
        for calls in _schedule(counts, until_breaks, max_calls):
            result = await run(calls, console=mode == "console")
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
            "lag_p99": result["event_loop_lag_ms"].get("p99"),
            "server_cpu_share": result["server_cpu_share"],
            "bench_cpu_share": result["bench_cpu_share"]}


def save(results: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scaling-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, action="append", help="concurrent calls (repeat)")
    parser.add_argument("--mode", choices=("headless", "console", "both"), default="both")
    parser.add_argument("--until-breaks", action="store_true",
                        help="double N after the last --calls until p95 > 2 s or late > 1 %%")
    parser.add_argument("--max-calls", type=int, default=800, help="--until-breaks stops here")
    args = parser.parse_args()
    counts = sorted(args.calls or DEFAULT_CALLS)
    modes = ["headless", "console"] if args.mode == "both" else [args.mode]
    results = asyncio.run(sweep(counts, modes, args.until_breaks, args.max_calls))
    path = save(results)
    print(json.dumps(results, indent=2))
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
