"""Soak: `--calls` concurrent simulated calls, placed back to back for `--minutes`, against the
same loopback fakes and per-call script as bench/pipeline.py. Not part of `make test`.

Watches what only time shows: the server's RSS (sampled every 10 s) must be flat over the last
5 minutes (the last half of a shorter run), no call may end in an error, every call must be in
the database (counted after the server's own shutdown flush), and sockets to the providers must
not pile up (the fake Deepgram counts the ones still open when the calls are over).

    python bench/soak.py --calls 100 --minutes 10
    python bench/soak.py --calls 20 --minutes 2          # the short version

"Flat" = a least-squares line through the window's samples rises by less than the noise
allowance: max(5 MB, 3 % of the mean RSS) over the window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import save_results, split_cores  # noqa: I001 - sets sys.path for tests.fakes
from pipeline import _caller, _server_env, reply_for
from scaling import ProbedServer

from console.simulate.caller import SimulatedCaller
from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq

SAMPLE_EVERY_S = 10.0
CALL_S = 40.0  # one pipeline-bench call lasts about 39 s: sizes the transcript script
FLAT_WINDOW_S = 300.0
NOISE_MB, NOISE_FRACTION = 5.0, 0.03


class Soak:
    def __init__(self, server: ProbedServer, slots: int, seconds: float) -> None:
        self.server = server
        self.slots = slots
        self.deadline = time.monotonic() + seconds
        self.started = time.monotonic()
        self.samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB)
        self.placed: list[str] = []
        self.failed: list[dict[str, Any]] = []

    async def run(self) -> None:
        sampler = asyncio.create_task(self._sample(), name="soak-rss-sampler")
        try:
            await asyncio.gather(*(self._slot() for _ in range(self.slots)))
        finally:
            sampler.cancel()
        self._record_rss()

    async def _slot(self) -> None:
        """One line kept busy: a new call as soon as the last one hangs up."""
        while time.monotonic() < self.deadline:
            caller = _caller(self.server.media_url)
            self.placed.append(caller.options.call_sid)
            await self._place(caller)

    async def _place(self, caller: SimulatedCaller) -> None:
        summary = await caller.run()
        if summary["errors"] or not summary["connected"]:
            self.failed.append({"call_sid": summary["call_sid"], "errors": summary["errors"][:3]})

    async def _sample(self) -> None:
        while True:
            self._record_rss()
            await asyncio.sleep(SAMPLE_EVERY_S)  # the sampling period itself

    def _record_rss(self) -> None:
        self.samples.append((round(time.monotonic() - self.started, 1),
                             self.server.memory_mb()["rss"]))


def flatness(samples: list[tuple[float, float]]) -> dict[str, Any]:
    end = samples[-1][0]
    window = min(FLAT_WINDOW_S, end / 2)
    points = np.array([s for s in samples if s[0] >= end - window])
    if len(points) < 3:
        return {"flat": None, "why": "fewer than 3 samples in the window"}
    slope, _ = np.polyfit(points[:, 0], points[:, 1], 1)
    rise = float(slope * window)
    allowance = max(NOISE_MB, NOISE_FRACTION * float(points[:, 1].mean()))
    return {"window_s": round(window), "rise_mb": round(rise, 2),
            "allowance_mb": round(allowance, 2), "flat": rise < allowance,
            "rss_first_last_mb": [float(points[0, 1]), float(points[-1, 1])]}


def stored_calls(db_path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db_path)
    try:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM calls GROUP BY status"))
        turns = conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
        sids = {row[0] for row in conn.execute("SELECT call_sid FROM calls")}
    finally:
        conn.close()
    return {"by_status": statuses, "turns": turns, "sids": sids}


async def soak(slots: int, minutes: float, console: bool,
               cores: dict[str, list[int]] | None) -> dict[str, Any]:
    transcripts = int(slots * (minutes * 60 / CALL_S + 2) * 4)
    script = [f"this is caller line number {i} about my booking" for i in range(transcripts)]
    async with FakeDeepgram(script=script, first_byte_ms=80, ms_per_char=60) as deepgram, \
            FakeGroq(reply=reply_for, first_token_ms=150, tokens_per_s=200) as groq:
        with tempfile.TemporaryDirectory() as workdir:
            server = await ProbedServer(_server_env(deepgram, groq, workdir),
                                        Path(workdir), console, cores and cores["server"]).start()
            run = Soak(server, slots, minutes * 60)
            try:
                server.restart_lag_samples()
                await run.run()
                sockets = await _open_sockets(deepgram)
            finally:
                await server.stop()
            exit_code = server.proc.returncode if server.proc else None
            stored = stored_calls(Path(workdir) / "bench.db")
            lag = server.lag()  # its file goes with the temporary directory
        return _report(run, stored, lag, exit_code, sockets, slots, minutes, console)


async def _open_sockets(deepgram: FakeDeepgram) -> dict[str, int]:
    """Provider sockets still open once every call is over (the server still running)."""
    try:
        await deepgram.wait_for(lambda: deepgram.listen_open == 0, timeout=10.0)
    except AssertionError:
        pass  # reported below as it is
    return {"listen": deepgram.listen_open, "speak": deepgram.speak_open}


def _report(run: Soak, stored: dict[str, Any], lag: dict[str, Any], exit_code: int | None,
            sockets: dict[str, int], slots: int, minutes: float,
            console: bool) -> dict[str, Any]:
    missing = sorted(set(run.placed) - stored["sids"])
    return {
        "calls": slots, "minutes": minutes, "mode": "console" if console else "headless",
        "calls_placed": len(run.placed), "calls_with_errors": len(run.failed),
        "error_sample": run.failed[:3],
        "stored": {**{k: v for k, v in stored.items() if k != "sids"},
                   "missing": len(missing), "missing_sample": missing[:3]},
        "server_exit_code": exit_code,
        "rss_mb": flatness(run.samples), "rss_samples": run.samples,
        "event_loop_lag_ms": lag,
        "deepgram_sockets_open_after_calls": sockets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="concurrent calls")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--console", action="store_true", help="with the console running")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the server and the load share every core")
    args = parser.parse_args()
    cores = split_cores(args.shared_cores)
    result = asyncio.run(soak(args.calls, args.minutes, args.console, cores))
    path = save_results("soak", result)
    print(json.dumps(result, indent=2))
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
