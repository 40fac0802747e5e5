"""Risk board cost bench: what scoring every live call costs the console's process at N calls
(default 50), and whether the console still keeps its frame and loop-lag figures.

The calls of bench/scaling.py (its fakes, arrivals and core split; each call: a greeting, three
turns, one barge-in), with the operator console running headless around the runtime
(probe_server.py --console), so the board, its ranking, the preview and the header share the
loop with the calls' audio. Callers say lines that feed every text rule: plain requests, a
question asked again, angry words, a near miss of the profile's "can't breathe" ("I can't
breath"; no exact emergency phrase, which would transfer the call and change the run).

Each round runs the console three times, the risk board switched off (bench/risk_meter.py: no
score, arrival order), on (metered) and on unmetered (`bare`, as shipped); `--base TREE` adds a
run of the same calls on the code in TREE (e.g. `git archive 29b0131 | tar -x -C /tmp/base`:
the console before the risk board).

Measured 2026-12-05 (50 calls, 2 rounds, medians, a quiet 2-core machine; docs/scaling.md):
server loop lag p99 before issue 15 6.65 ms, as shipped 5.56; console drawing 25.5 and 27.4 ms a
second; no late frame in either; the scorer 0.40 % of the server's CPU. `--stalls DIR` names what
stalls the loop (bench/stall_trace.py; it slows the runs, so not with their figures).

Reported per run and as medians:
- the scorer's own CPU, measured in-process (bench/risk_meter.py), as a share of the server
  process's CPU over the same calls (target <= 2 %);
- server CPU per call, off and on (on a shared machine this A/B is noisier than the scorer);
- the console's own drawing CPU, measured in-process (board refresh and every widget's lines
  painted), per second of wall time: what the dashboard costs the loop, on any machine;
- own overhead p50/p95, late frames (sent, and at the caller) and the server's loop lag p99/max:
  the console-at-50-calls row of the README (own overhead p95 10 ms, no late frame, loop lag
  p99 3.9 ms), to be kept within 10 %.

    python bench/risk_cost.py                 # 50 calls, 2 rounds
    python bench/risk_cost.py --calls 10 --rounds 1

JSON goes to stdout and bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import save_results, split_cores, spread  # noqa: I001 - sets sys.path
from pipeline import (
    STAGGER_S,
    TURNS,
    _latencies,
    _overheads,
    _server_env,
    _server_playout,
    reply_for,
)
from scaling import SETTLE_S, ProbedServer, _errors, _measure, late_frames

from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq

TARGET_SCORER_PERCENT = 2.0
README_CONSOLE_50 = {"own_overhead_p95_ms": 10.0, "late_frames": 0, "loop_lag_p99_ms": 3.86}
LINES = (
    "this is caller line number {i} about my booking",
    "why is my bill so high this month",
    "this is ridiculous I want a real person",
    "I can't breath very well today",
    "why is my bill so high this month I asked already",
)


class RiskProbedServer(ProbedServer):
    def __init__(self, env: dict[str, str], workdir: Path, risk: str,
                 cores: list[int] | None = None, stalls: Path | None = None) -> None:
        super().__init__(env, workdir, console=True, cores=cores)
        self.risk = risk
        self.stalls = stalls

    def argv(self) -> list[str]:
        stalls = ["--stalls", str(self.stalls)] if self.stalls is not None else []
        return super().argv() + ["--risk", self.risk] + stalls


def _unprefixed(env: dict[str, str]) -> dict[str, str]:
    """The same server settings by the names a tree from before the VOICECONSOLE_ prefix reads
    (the prefixed ones are ignored there, and these are ignored here)."""
    return {"PORT": "0", "HOST": "127.0.0.1",
            "DEEPGRAM_BASE_URL": env["VOICECONSOLE_DEEPGRAM_BASE_URL"],
            "GROQ_BASE_URL": env["VOICECONSOLE_GROQ_BASE_URL"],
            "VOICECONSOLE_DB": env["VOICECONSOLE_DATA_DB"], "RECORDING_ENABLED": "false"}


def script(calls: int) -> list[str]:
    return [LINES[i % len(LINES)].format(i=i) for i in range(calls * 10)]


async def run(calls: int, risk: str, cores: dict[str, list[int]] | None,
              base: Path | None = None, stalls: Path | None = None) -> dict[str, Any]:
    async with FakeDeepgram(script=script(calls), first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            env = {**_server_env(deepgram, groq, workdir),
                   "VOICECONSOLE_RECORDING_ENABLED": "false"}
            if risk == "base" and base is not None:
                env["PYTHONPATH"] = str(base)  # the console package from that tree
                env |= _unprefixed(env)  # which reads the settings' names of its day
            server = RiskProbedServer(env, Path(workdir), risk, cores and cores["server"],
                                      stalls)
            await server.start()
            try:
                measured = await _measure(server, calls, STAGGER_S)
            finally:
                await server.stop()
            lag = server.lag()
            playout = _server_playout(Path(workdir) / "bench.db")
    callers = measured.pop("callers")
    cpu_s = measured["server_cpu_s_per_call"] * calls
    scorer = lag.get("risk", {})
    return {
        "risk": risk, "calls": calls, "wall_s": measured["wall_s"],
        "server_cpu_s": round(cpu_s, 3), "server_cpu_share": measured["server_cpu_share"],
        "scorer_cpu_s": scorer.get("cpu_s"), "scorer_entries": scorer.get("calls"),
        "console_draw_ms_per_s": (round(1000 * scorer["console_cpu_s"] / measured["wall_s"], 2)
                                  if scorer.get("console_cpu_s") is not None else None),
        "scorer_percent_of_server": (round(100 * scorer["cpu_s"] / cpu_s, 3)
                                     if risk == "on" and cpu_s else None),
        "own_overhead_ms": spread(_overheads(callers, deepgram, groq)),
        "voice_to_voice_ms": _latencies(callers, TURNS)["voice_to_voice_ms"],
        "late_frames_sent": playout["late_frames"], "late_frames_heard": late_frames(callers),
        "loop_lag_ms": {k: lag.get(k) for k in ("p50", "p99", "max")},
        "caller_errors": _errors(callers)["calls_with_errors"],
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(rows: list[dict[str, Any]], pick: Any) -> float | None:
        values = [pick(r) for r in rows if pick(r) is not None]
        return round(statistics.median(values), 3) if values else None

    by = {mode: [r for r in runs if r["risk"] == mode] for mode in ("base", "off", "on", "bare")}
    figures = {
        "server_cpu_s": lambda r: r["server_cpu_s"],
        "console_draw_ms_per_s": lambda r: r["console_draw_ms_per_s"],
        "own_overhead_p95_ms": lambda r: r["own_overhead_ms"]["p95"],
        "late_frames_sent": lambda r: r["late_frames_sent"],
        "late_frames_heard": lambda r: r["late_frames_heard"]["late"],
        "loop_lag_p99_ms": lambda r: r["loop_lag_ms"]["p99"],
        "v2v_p95_ms": lambda r: r["voice_to_voice_ms"]["p95"],
    }
    medians = {mode: {k: median(rows, f) for k, f in figures.items()} for mode, rows in by.items()}
    scorer = median(by["on"], lambda r: r["scorer_percent_of_server"])
    return {
        "calls": runs[0]["calls"], "rounds": len(by["on"]),
        "scorer_percent_of_server_cpu": scorer,
        "scorer_target_met": scorer is not None and scorer <= TARGET_SCORER_PERCENT,
        "median": medians, "readme_console_50": README_CONSOLE_50, "runs": runs,
    }


async def sweep(calls: int, rounds: int, cores: dict[str, list[int]] | None,
                base: Path | None, stalls: Path | None = None) -> list[dict]:
    runs = []
    modes = ("base", "off", "on", "bare") if base is not None else ("off", "on", "bare")
    for round_no in range(rounds):
        for risk in modes:
            traced = stalls / f"stalls-{risk}-{round_no + 1}.json" if stalls else None
            result = await run(calls, risk, cores, base, traced)
            runs.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
            await asyncio.sleep(SETTLE_S)  # not synchronisation: lets the old process go
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the server, fakes and callers share every core")
    parser.add_argument("--base", type=Path,
                        help="also run the code in this tree (the console before the risk board)")
    parser.add_argument("--stalls", type=Path, metavar="DIR",
                        help="name what stalls the server's loop, per run, in DIR "
                             "(bench/stall_trace.py; slows the runs: not for their figures)")
    args = parser.parse_args()
    if args.stalls:
        args.stalls.mkdir(parents=True, exist_ok=True)
    runs = asyncio.run(sweep(args.calls, args.rounds, split_cores(args.shared_cores), args.base,
                             args.stalls))
    result = summarize(runs)
    path = save_results("risk_cost", result)
    print(json.dumps(result, indent=2))
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
